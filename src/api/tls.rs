//! The API server's TLS: a CA and a server certificate made at first start (as `kubeadm init`
//! makes its `ca.crt` and `apiserver.crt`), kept in the data directory, and a bearer token; the
//! kubeconfig trusts that CA and sends that token.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The files of the data directory that hold the credentials.
pub struct Credentials {
    /// The CA certificate, PEM, for the kubeconfig's `certificate-authority-data`.
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
    pub token: String,
}

/// Loads the credentials from `dir`, making them first if they are not there.
pub fn credentials(dir: &Path, hosts: &[String]) -> anyhow::Result<Credentials> {
    let (ca, cert, key, token, names_file) = (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
        dir.join("token"),
        dir.join("server.names"),
    );
    let names = server_names(hosts);
    // A certificate made for other names (an older wpod, another --listen) is made again.
    let made_for = std::fs::read_to_string(&names_file).unwrap_or_default();
    if !(ca.exists() && cert.exists() && key.exists()) || made_for != names.join("\n") {
        make(dir, &names)?;
        std::fs::write(&names_file, names.join("\n")).context("writing server.names")?;
    }
    if !token.exists() {
        write_private(&token, new_token()?.as_bytes())?;
    }
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let chain = CertificateDer::pem_file_iter(&cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading {}", cert.display()))?;
    let private =
        PrivateKeyDer::from_pem_file(&key).with_context(|| format!("reading {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .context("loading the server certificate")?;
    // kubectl speaks HTTP/2 when offered; watches and logs work over either.
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Credentials {
        ca_pem: read(&ca)?,
        server: Arc::new(server),
        token: read(&token)?.trim().to_string(),
    })
}

/// The names the server certificate is valid for: the host's, the in-cluster Service's
/// (ClusterIP and DNS names, as kubeadm's apiserver certificate lists them) and the node's
/// address where pods reach it.
fn server_names(hosts: &[String]) -> Vec<String> {
    let mut names: Vec<String> = [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    names.push(crate::net::services::KUBERNETES_IP.to_string());
    names.push(crate::net::cluster::NODE_IP.to_string());
    for h in hosts {
        if !names.contains(h) {
            names.push(h.clone());
        }
    }
    names
}

fn make(dir: &Path, names: &[String]) -> anyhow::Result<()> {
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "wpod-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).context("signing the CA")?;
    let server_key = KeyPair::generate().context("generating the server key")?;
    let mut server = CertificateParams::new(names.to_vec())?;
    server
        .distinguished_name
        .push(DnType::CommonName, "wpod-apiserver");
    let issuer = Issuer::new(ca, ca_key);
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .context("signing the server certificate")?;
    std::fs::write(dir.join("ca.crt"), ca_cert.pem()).context("writing ca.crt")?;
    std::fs::write(dir.join("server.crt"), server_cert.pem()).context("writing server.crt")?;
    write_private(
        &dir.join("server.key"),
        server_key.serialize_pem().as_bytes(),
    )?;
    Ok(())
}

/// 32 random bytes from the kernel, as hex.
pub(super) fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no random numbers for the token"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A file only its owner can read.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = crate::modes::private(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
    )
    .open(path)
    .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
