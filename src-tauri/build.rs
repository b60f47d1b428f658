//! Runs tauri-build: embeds the config, and declares the app's own commands so that Tauri's
//! ACL applies to them. Without the app manifest, app commands bypass the capability check.

fn main() {
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    // The command list is compiled in, but say so: the ACL must follow it.
    println!("cargo:rerun-if-changed=src-tauri/src/command_names.rs");
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(returnhub_commands::ALL));
    tauri_build::try_build(attributes).expect("tauri-build failed");
}

#[path = "src/command_names.rs"]
mod returnhub_commands;
