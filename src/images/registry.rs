//! Images to and from a registry, over the OCI distribution protocol (oci-client): `wpod image
//! pull | push`, and the kubelet's pull of an image the store does not have.

use std::pin::Pin;
use std::task::{Context, Poll};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_spec::image::{ImageIndex, ImageManifest};

use super::store::{MAX_BLOB, MAX_METADATA, Store};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// An error with its causes (the client's own says only what it was doing).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !out.contains(&said) {
            out.push_str(": ");
            out.push_str(&said);
        }
        cause = c.source();
    }
    out
}

/// How to reach registries.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// Registries spoken to over plain HTTP (`--insecure-registry localhost:5000`), as
    /// containerd's and docker's insecure registries.
    pub insecure: Vec<String>,
    /// Credentials by registry host (from imagePullSecrets, or `--creds`).
    pub credentials: Vec<(String, String, String)>,
}

impl Access {
    fn client(&self) -> Client {
        // rustls with ring, the API's TLS provider, rather than a second one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client::new(ClientConfig {
            protocol: if self.insecure.is_empty() {
                ClientProtocol::Https
            } else {
                ClientProtocol::HttpsExcept(self.insecure.clone())
            },
            // Chosen here: the wasm platform of an index, not the machine's.
            platform_resolver: None,
            ..ClientConfig::default()
        })
    }

    fn auth(&self, registry: &str) -> RegistryAuth {
        self.credentials
            .iter()
            .find(|(host, _, _)| host == registry)
            .map_or(RegistryAuth::Anonymous, |(_, user, password)| {
                RegistryAuth::Basic(user.clone(), password.clone())
            })
    }
}

/// An AsyncWrite into memory that refuses more than `max` bytes: a registry cannot make wpod
/// hold more than a blob may be.
struct Capped {
    bytes: Vec<u8>,
    max: u64,
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.bytes.len() as u64 + buf.len() as u64 > self.max {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "the blob is larger than the {} wpod takes",
                crate::bounded::human(self.max)
            ))));
        }
        self.bytes.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

async fn blob(
    client: &Client,
    image: &Reference,
    digest: &str,
    size: u64,
    max: u64,
) -> Result<Vec<u8>, String> {
    if size > max {
        return Err(format!(
            "blob {digest} is {size} bytes, more than the {} wpod takes",
            crate::bounded::human(max)
        ));
    }
    let mut out = Capped {
        bytes: Vec::with_capacity(usize::try_from(size).unwrap_or(0)),
        max,
    };
    client
        .pull_blob(image, digest, &mut out)
        .await
        .map_err(|e| format!("pulling blob {digest}: {}", chain(&e)))?;
    Ok(out.bytes)
}

/// Pulls `reference` into the store (its wasm platform, for an index) and names it so; returns
/// the manifest's digest. The client checks every blob against its digest, and the store again.
pub async fn pull(store: &Store, reference: &Reference, access: &Access) -> Result<String, String> {
    let client = access.client();
    let auth = access.auth(reference.resolve_registry());
    let accepted = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
    let (mut bytes, mut digest) = client
        .pull_manifest_raw(reference, &auth, &accepted)
        .await
        .map_err(|e| chain(&e))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("the registry's manifest: {e}"))?;
    let media = value["mediaType"].as_str().unwrap_or_default();
    if media == OCI_INDEX || media == DOCKER_LIST || value.get("manifests").is_some() {
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| format!("the registry's index: {e}"))?;
        let m = super::stored::wasm_platform(&index)?;
        let platform = reference.clone_with_digest(m.digest().to_string());
        (bytes, digest) = client
            .pull_manifest_raw(&platform, &auth, &[OCI_MANIFEST, DOCKER_MANIFEST])
            .await
            .map_err(|e| chain(&e))?;
    }
    if bytes.len() as u64 > MAX_METADATA {
        return Err("its manifest is larger than 4 MiB".to_string());
    }
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| format!("the registry's manifest: {e}"))?;
    let config = manifest.config();
    let config_bytes = blob(
        &client,
        reference,
        config.digest().as_ref(),
        config.size(),
        MAX_METADATA,
    )
    .await?;
    store.put_expected(config.digest().as_ref(), &config_bytes)?;
    for layer in manifest.layers() {
        let d = layer.digest().to_string();
        let bytes = blob(&client, reference, &d, layer.size(), MAX_BLOB).await?;
        store.put_expected(&d, &bytes)?;
    }
    store.put_expected(&digest, &bytes)?;
    let entry = oci_spec::image::DescriptorBuilder::default()
        .media_type(oci_spec::image::MediaType::ImageManifest)
        .digest(
            digest
                .parse::<oci_spec::image::Digest>()
                .map_err(|e| e.to_string())?,
        )
        .size(bytes.len() as u64)
        .build()
        .map_err(|e| e.to_string())?;
    let named = reference.tag().map(|_| reference);
    store.tag(named, &entry)?;
    Ok(digest)
}

/// Pushes a stored image (its blobs, then its manifest) to `reference`; returns the manifest's
/// address.
pub async fn push(
    store: &Store,
    local: &str,
    reference: &Reference,
    access: &Access,
) -> Result<String, String> {
    let entry = store
        .find(local)?
        .ok_or_else(|| format!("no image {local:?} in wpod's image store"))?;
    let digest = entry.manifest.digest().to_string();
    let bytes = store.blob(&digest, MAX_METADATA)?;
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| format!("manifest {digest}: {e}"))?;
    let client = access.client();
    let auth = access.auth(reference.resolve_registry());
    client
        .store_auth_if_needed(reference.resolve_registry(), &auth)
        .await;
    let blobs = std::iter::once(manifest.config()).chain(manifest.layers().iter());
    for d in blobs {
        let blob_digest = d.digest().to_string();
        let exists = client
            .blob_exists(reference, &blob_digest)
            .await
            .unwrap_or(false);
        if !exists {
            let data = store.blob(&blob_digest, MAX_BLOB)?;
            client
                .push_blob(reference, data, &blob_digest)
                .await
                .map_err(|e| format!("pushing blob {blob_digest}: {}", chain(&e)))?;
        }
    }
    let media = manifest
        .media_type()
        .as_ref()
        .map_or_else(|| OCI_MANIFEST.to_string(), |m| m.to_string());
    let content_type = hyper::header::HeaderValue::from_str(&media).map_err(|e| e.to_string())?;
    client
        .push_manifest_raw(reference, bytes, content_type)
        .await
        .map_err(|e| format!("pushing the manifest: {}", chain(&e)))
}
