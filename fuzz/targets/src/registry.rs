//! Image references and the registry documents read to resolve them.

use serde_json::Value;
use winkube_api::windows::{ImagePlatforms, ImageReference};

/// Parses, then parses the normalised form again: the same reference.
pub fn image_reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = ImageReference::parse(text) else {
        return;
    };
    assert!(!r.registry.is_empty() && !r.repository.is_empty());
    let _ = (r.manifest_reference(), r.effective_tag(), r.is_floating());
    let mut canonical = format!("{}/{}", r.registry, r.repository);
    if let Some(t) = &r.tag {
        canonical.push(':');
        canonical.push_str(t);
    }
    if let Some(d) = &r.digest {
        canonical.push('@');
        canonical.push_str(d);
    }
    let again = ImageReference::parse(&canonical).unwrap_or_else(|e| {
        panic!("{text:?} parsed as {r:?}, whose form {canonical:?} does not: {e}")
    });
    assert_eq!(again, r, "{text:?} -> {canonical:?}");
}

/// An index/manifest list, or a config blob, or pinned metadata.
pub fn registry_documents(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(platforms) = winkube_registry::parse_index(&doc) {
        assert!(
            platforms.iter().all(|p| p.os != "unknown"),
            "attestations are skipped"
        );
        for p in &platforms {
            let _ = (p.windows_build(), p.is_windows());
        }
    }
    if let Ok(p) = winkube_registry::platform_of(&doc) {
        assert_eq!(Some(p.os.as_str()), doc.get("os").and_then(Value::as_str));
        let _ = (p.windows_build(), p.is_windows());
    }
    if let Ok(pinned) = serde_json::from_value::<ImagePlatforms>(doc) {
        let _ = pinned.oses();
    }
}
