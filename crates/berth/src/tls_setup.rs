//! The certificate `berth up --tls` / `berth server --tls` serves with: a CA of this
//! Berth's own, made once and kept in `DATA/tls/` (`ca.pem`, `ca-key.pem`, mode 0600 for
//! the key), and a server certificate it signs at each start for the names clients use
//! (localhost, 127.0.0.1, ::1, the host's name, the advertised host, the listen address).
//! Clients trust `ca.pem`: the AWS CLI through the profile's `ca_bundle`, agents with
//! `--ca-file`, Docker through `/etc/docker/certs.d/HOST:PORT/ca.crt` (which agents
//! install). An operator's own certificate and key are used as given instead.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use berth_server::tls::TlsFiles;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The CA's subject: the same each time the CA is loaded, so certificates signed after a
/// restart name the issuer clients already trust.
const CA_NAME: &str = "Berth local CA";

/// What the server serves with, and the CA file clients trust (when Berth made it).
pub struct Tls {
    pub files: TlsFiles,
    pub ca_file: Option<PathBuf>,
}

/// The operator's own certificate chain and key.
pub fn given(cert: &Path, key: &Path, ca: Option<&Path>) -> anyhow::Result<Tls> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    Ok(Tls {
        files: TlsFiles {
            cert_chain_pem: read(cert)?,
            key_pem: read(key)?,
        },
        ca_file: ca.map(Path::to_path_buf),
    })
}

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_NAME);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    Ok(params)
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(contents)?;
            f.sync_all()
        })
        .and_then(|_| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The names the server certificate covers for a server on `listen`.
pub fn names(listen: SocketAddr, advertise: Option<&str>) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        names.push(host.trim().to_string());
    }
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    names.extend(advertise.map(str::to_string));
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    names
}

/// Loads this Berth's CA from `dir` (making it on first use) and signs a server
/// certificate for `names` with it.
pub fn generated(dir: &Path, names: &[String]) -> anyhow::Result<Tls> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (ca_file, ca_key_file) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let ca_key = match std::fs::read_to_string(&ca_key_file) {
        Ok(pem) => KeyPair::from_pem(&pem)
            .with_context(|| format!("{} is not a private key", ca_key_file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = KeyPair::generate()?;
            let ca = ca_params()?.self_signed(&key)?;
            write_private(&ca_key_file, key.serialize_pem().as_bytes())?;
            std::fs::write(&ca_file, ca.pem())
                .with_context(|| format!("cannot write {}", ca_file.display()))?;
            println!(
                "berth: made a CA for this Berth's TLS: {}",
                ca_file.display()
            );
            key
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", ca_key_file.display())),
    };
    anyhow::ensure!(
        ca_file.exists(),
        "{} is missing while its key is there: remove {} to make a new CA",
        ca_file.display(),
        ca_key_file.display()
    );
    // The same subject and key as the CA on disk: what it signs verifies against it.
    let ca = ca_params()?.self_signed(&ca_key)?;
    let mut params = CertificateParams::new(names.to_vec())?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, "Berth");
    params.distinguished_name = subject;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(825);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    let chain = format!("{}{}", cert.pem(), std::fs::read_to_string(&ca_file)?);
    std::fs::write(dir.join("server.pem"), &chain)?;
    write_private(&dir.join("server-key.pem"), key.serialize_pem().as_bytes())?;
    Ok(Tls {
        files: TlsFiles {
            cert_chain_pem: chain.into_bytes(),
            key_pem: key.serialize_pem().into_bytes(),
        },
        ca_file: Some(ca_file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restarted_berth_keeps_its_ca_and_signs_for_the_names_asked() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string(), "10.0.0.5".to_string()];
        let first = generated(dir.path(), &names).unwrap();
        let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
        let second = generated(dir.path(), &names).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("ca.pem")).unwrap(),
            ca,
            "the CA stays"
        );
        assert_ne!(
            first.files.key_pem, second.files.key_pem,
            "each start signs a new server key"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ca-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Both certificates load as a server configuration.
        for tls in [&first, &second] {
            berth_server::tls::acceptor(&tls.files).unwrap();
        }
    }

    #[test]
    fn the_names_cover_loopback_the_listen_address_and_the_advertised_host() {
        let n = names("10.1.2.3:7430".parse().unwrap(), Some("berth.example"));
        for want in ["localhost", "127.0.0.1", "::1", "10.1.2.3", "berth.example"] {
            assert!(n.iter().any(|x| x == want), "{want} in {n:?}");
        }
        let n = names("0.0.0.0:7430".parse().unwrap(), None);
        assert!(!n.iter().any(|x| x == "0.0.0.0"), "{n:?}");
    }
}
