//! Each command's arguments and answer as TypeScript, read from the handlers themselves
//! (`commands.rs`, parsed with `syn`): the window's one IPC wrapper takes a command's name and
//! exactly its arguments and is typed with its answer, so `tsc` refuses a call whose arguments
//! or answer drift from the Rust side. Written to `ui/src/generated/Commands.ts` by the app's
//! tests (`RETURNHUB_BLESS=1 cargo test -p returnhub --lib`), which fail while it is stale.

use std::collections::BTreeSet;

/// What one handler takes and answers, in TypeScript.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandType {
    pub name: String,
    /// `void` for none, `Uint8Array` for a raw body, else an object type.
    pub args: String,
    pub reply: String,
}

/// The `#[tauri::command]` handlers in `source`, in order, and the binding types they name.
pub fn command_types(source: &str) -> Result<(Vec<CommandType>, BTreeSet<String>), String> {
    let file = syn::parse_file(source).map_err(|e| format!("commands.rs does not parse: {e}"))?;
    let mut named = BTreeSet::new();
    let mut out = Vec::new();
    for item in file.items {
        let syn::Item::Fn(f) = item else { continue };
        let command = f.attrs.iter().find(|a| {
            let p = a.path();
            p.segments.len() == 2
                && p.segments[0].ident == "tauri"
                && p.segments[1].ident == "command"
        });
        let Some(command) = command else { continue };
        let name = f.sig.ident.to_string();
        // `rename_all` and the like would change the keys the window must send.
        if !matches!(command.meta, syn::Meta::Path(_)) {
            return Err(format!(
                "{name}: #[tauri::command(…)] with arguments; the generator knows only the plain one"
            ));
        }
        let mut fields = Vec::new();
        let mut raw = false;
        for input in &f.sig.inputs {
            let syn::FnArg::Typed(arg) = input else {
                return Err(format!("{name}: a command takes no self"));
            };
            let syn::Pat::Ident(ident) = arg.pat.as_ref() else {
                return Err(format!("{name}: an argument that is not a plain name"));
            };
            match last_ident(&arg.ty).as_deref() {
                // Tauri's own handles: not arguments the window sends.
                Some("State" | "Window" | "WebviewWindow" | "AppHandle") => continue,
                Some("Request") => {
                    raw = true;
                    continue;
                }
                _ => {}
            }
            let optional = last_ident(&arg.ty).as_deref() == Some("Option");
            let ts = ts_type(&arg.ty, &mut named).map_err(|e| format!("{name}: {e}"))?;
            fields.push(format!(
                "{}{}: {ts}",
                camel(&ident.ident.to_string()),
                if optional { "?" } else { "" }
            ));
        }
        let args = match (raw, fields.is_empty()) {
            (true, true) => "Uint8Array".to_owned(),
            (true, false) => return Err(format!("{name}: a raw body and named arguments")),
            (false, true) => "void".to_owned(),
            (false, false) => format!("{{ {} }}", fields.join("; ")),
        };
        let syn::ReturnType::Type(_, ty) = &f.sig.output else {
            return Err(format!("{name}: a command answers a Reply<T>"));
        };
        let reply = match reply_of(ty) {
            Some(inner) => ts_type(inner, &mut named).map_err(|e| format!("{name}: {e}"))?,
            None => return Err(format!("{name}: a command answers a Reply<T>")),
        };
        out.push(CommandType { name, args, reply });
    }
    Ok((out, named))
}

/// The TypeScript file: one import per binding type named, then the `Commands` map.
pub fn render(commands: &[CommandType], named: &BTreeSet<String>) -> String {
    let mut out = String::from(
        "// Generated from src-tauri/src/commands.rs by the app's tests \
         (RETURNHUB_BLESS=1 cargo test -p returnhub --lib). Do not edit.\n\n",
    );
    for t in named {
        out.push_str(&format!(
            "import type {{ {t} }} from \"../bindings/{t}\";\n"
        ));
    }
    out.push_str(
        "\n/** What each command takes (keys in camelCase, as Tauri reads them; `void`: nothing) \
         and what it answers. */\nexport interface Commands {\n",
    );
    for c in commands {
        out.push_str(&format!(
            "  {}: {{ args: {}; reply: {} }};\n",
            c.name, c.args, c.reply
        ));
    }
    out.push_str("}\n");
    out
}

fn last_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// `T` of `Reply<T>`.
fn reply_of(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Reply" {
        return None;
    }
    first_generic(&last.arguments)
}

fn first_generic(args: &syn::PathArguments) -> Option<&syn::Type> {
    let syn::PathArguments::AngleBracketed(a) = args else {
        return None;
    };
    a.args.iter().find_map(|g| match g {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn ts_type(ty: &syn::Type, named: &mut BTreeSet<String>) -> Result<String, String> {
    match ty {
        syn::Type::Tuple(t) if t.elems.is_empty() => Ok("null".into()),
        syn::Type::Path(p) => {
            let last = p
                .path
                .segments
                .last()
                .ok_or_else(|| "an empty type path".to_owned())?;
            let ident = last.ident.to_string();
            let inner = || {
                first_generic(&last.arguments).ok_or_else(|| format!("{ident} without its type"))
            };
            Ok(match ident.as_str() {
                "String" => "string".into(),
                "bool" => "boolean".into(),
                "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
                    "number".into()
                }
                "Option" => format!("{} | null", ts_type(inner()?, named)?),
                "Vec" => {
                    let t = ts_type(inner()?, named)?;
                    if t.contains(' ') {
                        format!("({t})[]")
                    } else {
                        format!("{t}[]")
                    }
                }
                _ if last.arguments.is_empty() => {
                    named.insert(ident.clone());
                    ident
                }
                _ => {
                    return Err(format!(
                        "a generic type {ident} the generator does not know"
                    ))
                }
            })
        }
        _ => Err("a type the generator does not know".into()),
    }
}

/// `return_id` → `returnId`, as Tauri names a command's arguments.
fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/generated/Commands.ts");
    const BINDINGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/bindings");

    #[test]
    fn the_typescript_command_types_are_current() {
        let (commands, named) = command_types(include_str!("commands.rs")).unwrap();
        // The same commands as the list the ACL and the registration use.
        let handlers: BTreeSet<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        let listed: BTreeSet<&str> = crate::command_names::ALL.iter().copied().collect();
        assert_eq!(handlers, listed, "commands.rs and command_names.rs differ");
        for t in &named {
            assert!(
                std::path::Path::new(BINDINGS)
                    .join(format!("{t}.ts"))
                    .is_file(),
                "{t} has no TypeScript binding: derive ts_rs::TS for it and export it in \
                 crates/hub/tests/bindings.rs"
            );
        }
        let want = render(&commands, &named);
        if std::env::var_os("RETURNHUB_BLESS").is_some() {
            std::fs::write(PATH, &want).unwrap();
        }
        let have = std::fs::read_to_string(PATH).unwrap_or_default();
        assert_eq!(
            have, want,
            "ui/src/generated/Commands.ts is stale; regenerate with RETURNHUB_BLESS=1"
        );
    }

    #[test]
    fn arguments_read_as_tauri_takes_them() {
        let source = r#"
            #[tauri::command]
            pub async fn cancel_return(
                state: State<'_, AppState>,
                return_id: String,
                note: Option<String>,
                lines: Vec<Option<u32>>,
            ) -> Reply<SupervisorResult> { todo() }
            #[tauri::command]
            pub fn add_photo(state: State<'_, AppState>, request: tauri::ipc::Request<'_>) -> Reply<()> { todo() }
            pub fn not_a_command() {}
        "#;
        let (commands, named) = command_types(source).unwrap();
        assert_eq!(
            commands,
            vec![
                CommandType {
                    name: "cancel_return".into(),
                    args: "{ returnId: string; note?: string | null; lines: (number | null)[] }"
                        .into(),
                    reply: "SupervisorResult".into(),
                },
                CommandType {
                    name: "add_photo".into(),
                    args: "Uint8Array".into(),
                    reply: "null".into(),
                },
            ]
        );
        assert_eq!(named.into_iter().collect::<Vec<_>>(), ["SupervisorResult"]);
        assert!(command_types(
            "#[tauri::command] pub fn f(x: HashMap<String, u8>) -> Reply<()> {}"
        )
        .is_err());
        assert!(command_types(
            "#[tauri::command(rename_all = \"snake_case\")] pub fn f(a_b: u8) -> Reply<()> {}"
        )
        .is_err());
    }
}
