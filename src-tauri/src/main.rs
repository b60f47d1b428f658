//! The Returnhub desktop binary. Everything lives in the library so tests can drive it.

fn main() -> std::process::ExitCode {
    returnhub_app::run()
}
