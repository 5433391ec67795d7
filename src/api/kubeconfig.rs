//! The kubeconfig `wpod serve` writes (context `wpod`), as `kind` and `k3s` write theirs.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;

/// Writes `dir/kubeconfig` and returns its path.
pub fn write(dir: &Path, server: &str, ca_pem: &str, token: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("kubeconfig");
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: wpod\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: wpod\n  user:\n    token: {token}\ncontexts:\n- name: wpod\n  context:\n    cluster: wpod\n    user: wpod\n    namespace: default\ncurrent-context: wpod\npreferences: {{}}\n"
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The kubeconfig of the server whose data directory is `dir`.
pub fn kubeconfig(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("kubeconfig");
    std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (has `wpod serve --data-dir {}` run yet?)",
            path.display(),
            dir.display()
        )
    })
}
