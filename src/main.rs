fn main() -> std::process::ExitCode {
    wpod::cli::main()
}
