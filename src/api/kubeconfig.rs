//! The kubeconfig `wpod serve` writes (context `wpod`), as `kind` and `k3s` write theirs.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::{Value, json};

/// Writes `dir/kubeconfig` and returns its path.
pub fn write(dir: &Path, server: &str, ca_pem: &str, token: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("kubeconfig");
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: wpod\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: wpod\n  user:\n    token: {token}\ncontexts:\n- name: wpod\n  context:\n    cluster: wpod\n    user: wpod\n    namespace: default\ncurrent-context: wpod\npreferences: {{}}\n"
    );
    write_private(&path, &text)?;
    Ok(path)
}

/// Writes a file that holds a credential: readable by its owner only, replaced in one step.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("wpod-tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = crate::modes::private(std::fs::OpenOptions::new().write(true).create_new(true))
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// Adds the cluster, user and context `wpod` of the server in `dir` to the kubeconfig at
/// `target` (replacing older entries of that name, keeping every other one) and makes `wpod`
/// its current context, as `kind export kubeconfig` does.
pub fn merge(dir: &Path, target: &Path) -> anyhow::Result<()> {
    let ours: Value = serde_saphyr::from_str(&kubeconfig(dir)?)
        .with_context(|| format!("reading {}", dir.join("kubeconfig").display()))?;
    let mut theirs: Value = match std::fs::read_to_string(target) {
        Ok(text) if !text.trim().is_empty() => {
            serde_saphyr::from_str(&text).with_context(|| {
                format!(
                    "{} is not a kubeconfig wpod can read; it was left as it is",
                    target.display()
                )
            })?
        }
        Ok(_) => json!({}),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(e).with_context(|| format!("reading {}", target.display())),
    };
    let Some(map) = theirs.as_object_mut() else {
        anyhow::bail!(
            "{} is not a kubeconfig (not a mapping); it was left as it is",
            target.display()
        );
    };
    map.entry("apiVersion").or_insert(json!("v1"));
    map.entry("kind").or_insert(json!("Config"));
    for section in ["clusters", "users", "contexts"] {
        let entries = map.entry(section).or_insert(json!([]));
        if entries.is_null() {
            *entries = json!([]);
        }
        let Some(list) = entries.as_array_mut() else {
            anyhow::bail!(
                "{}: `{section}` is not a list; it was left as it is",
                target.display()
            );
        };
        list.retain(|e| e.get("name").and_then(Value::as_str) != Some(NAME));
        list.extend(ours[section].as_array().cloned().unwrap_or_default());
    }
    map.insert("current-context".into(), json!(NAME));
    let text = serde_saphyr::to_string(&theirs).context("writing the merged kubeconfig")?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    write_private(target, &text)
}

/// The name of the cluster, user and context wpod writes.
const NAME: &str = "wpod";

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
