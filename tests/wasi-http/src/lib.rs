// Only the dependency matters: see Cargo.toml.
