//! Certificates of the self-managed mode: a CA (ECDSA P-256) and serving certificates it
//! signs for the Service's DNS names, made with rcgen and read back with x509-parser.

use crate::Error;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Certificates start this long before they are made: clocks of API servers and webhook pods
/// are not exactly in step.
const BACKDATE: Duration = Duration::from_secs(300);

fn gen_err(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |e| Error::CertGenerate { what, source: e }
}

/// Seconds since the epoch (0 for a clock before 1970).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn offset(t: i64) -> Result<time::OffsetDateTime, Error> {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map_err(|e| Error::SelfCert(format!("time {t} out of range: {e}")))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

/// A certificate and its key, PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A new self-signed CA valid for `validity` from now.
pub fn new_ca(validity: Duration) -> Result<Pem, Error> {
    let now = unix_now();
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err("CA"))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    // A distinct name per CA: during a rotation two CAs are trusted side by side.
    params
        .distinguished_name
        .push(DnType::CommonName, format!("winkube webhook CA {now}"));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = offset(now - secs(BACKDATE))?;
    params.not_after = offset(now.saturating_add(secs(validity)))?;
    let key = KeyPair::generate().map_err(gen_err("CA key"))?;
    let cert = params.self_signed(&key).map_err(gen_err("CA"))?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A serving certificate for `dns_names`, signed by `ca`, valid for `validity` but never
/// beyond the CA's own end.
pub fn new_leaf(ca: &Pem, dns_names: &[String], validity: Duration) -> Result<Pem, Error> {
    let now = unix_now();
    let ca_end = not_after(&ca.cert)?;
    let ca_key = KeyPair::from_pem(&ca.key).map_err(gen_err("CA key (stored)"))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert, ca_key).map_err(gen_err("CA (stored)"))?;
    let mut params =
        CertificateParams::new(dns_names.to_vec()).map_err(gen_err("serving certificate"))?;
    if let Some(first) = dns_names.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.clone());
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = offset(now - secs(BACKDATE))?;
    params.not_after = offset(now.saturating_add(secs(validity)).min(ca_end))?;
    let key = KeyPair::generate().map_err(gen_err("serving key"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(gen_err("serving certificate"))?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Every CERTIFICATE block of `pem`, DER.
pub fn certs_der(pem: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::SelfCert(format!("invalid PEM certificate: {e}")))
}

/// The first certificate of `pem`, parsed: (DER, not after as Unix seconds).
fn first(pem: &str) -> Result<(CertificateDer<'static>, i64), Error> {
    let der = certs_der(pem)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::SelfCert("no CERTIFICATE block".into()))?;
    let (_, x509) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| Error::SelfCert(format!("certificate does not parse: {e}")))?;
    let end = x509.validity().not_after.timestamp();
    Ok((der, end))
}

/// When the first certificate of `pem` expires (Unix seconds).
pub fn not_after(pem: &str) -> Result<i64, Error> {
    first(pem).map(|(_, end)| end)
}

/// Whether the first certificate of `leaf_pem` was signed by the first one of `ca_pem`, and
/// names exactly `dns_names`.
pub fn leaf_matches(leaf_pem: &str, ca_pem: &str, dns_names: &[String]) -> bool {
    let (Ok((leaf, _)), Ok((ca, _))) = (first(leaf_pem), first(ca_pem)) else {
        return false;
    };
    let (Ok((_, leaf)), Ok((_, ca))) = (
        x509_parser::parse_x509_certificate(&leaf),
        x509_parser::parse_x509_certificate(&ca),
    ) else {
        return false;
    };
    if leaf.verify_signature(Some(ca.public_key())).is_err() {
        return false;
    }
    let mut names: Vec<String> = match leaf.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                _ => None,
            })
            .collect(),
        _ => return false,
    };
    let mut want = dns_names.to_vec();
    names.sort();
    want.sort();
    names == want
}

/// The bundle of CA certificates, in order, one PEM after the other.
pub fn bundle(cas: &[&str]) -> String {
    let mut out = String::new();
    for ca in cas {
        out.push_str(ca.trim_end());
        out.push('\n');
    }
    out
}
