//! LIST answers: the selected objects in key order, one page at a time with `limit`, and the
//! `continue` tokens that fetch the next page.

use crate::Error;
use crate::selectors::Selector;
use crate::store::{State, status};
use serde_json::{Value, json};

/// `limit` and `continue` of a LIST request.
pub(crate) struct Page<'a> {
    pub limit: Option<usize>,
    pub continue_token: Option<&'a str>,
}

/// A LIST, one page of it with `limit`: objects in key order (namespace, name), and a
/// `continue` token naming the last key sent and the resourceVersion of the first page, as
/// the API server's tokens do. Later pages are read from the current objects (the API server
/// reads them from its snapshot at that resourceVersion); a token older than the compaction
/// point gets 410 `Expired`, as on the API server.
pub(crate) fn list(
    st: &State,
    ty: usize,
    namespace: Option<&str>,
    page: &Page<'_>,
    selector: &Selector,
) -> Result<(u16, Value), Error> {
    let rt = &st.types[ty];
    let (list_rv, after) = match page.continue_token {
        None => (st.rv, None),
        Some(token) => {
            let (rv, key) = decode_continue(token)?;
            if rv < st.compacted_rv {
                return Err(Error::Status {
                    code: 410,
                    body: status(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    ),
                });
            }
            (rv, Some(key))
        }
    };
    // Keys compare as (namespace, name), the store's order: as strings, "a-b/x" would sort
    // before "a/x" and a page boundary there would skip or repeat objects.
    let after = after.map(|k| match k.split_once('/') {
        Some((ns, name)) => (ns.to_owned(), name.to_owned()),
        None => (String::new(), k),
    });
    // Only the page is copied: a large list is read page by page without cloning it whole
    // for every page.
    let mut selected = st
        .iter(ty, namespace)
        .filter(|(key, _)| after.as_ref().is_none_or(|a| *key > a))
        .filter(|(_, o)| selector.matches(o));
    let mut items = Vec::new();
    let mut last = None;
    for (key, object) in selected.by_ref().take(page.limit.unwrap_or(usize::MAX)) {
        items.push(object.clone());
        last = Some(key);
    }
    let remaining = selected.count();
    let mut metadata = json!({"resourceVersion": list_rv.to_string()});
    if remaining > 0
        && let Some((ns, name)) = last
    {
        metadata["continue"] = Value::String(encode_continue(list_rv, &format!("{ns}/{name}")));
        if selector.is_empty() {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    Ok((
        200,
        json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    ))
}

pub(crate) fn encode_continue(rv: u64, key: &str) -> String {
    use base64::Engine as _;
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{key}\u{0}")});
    base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
}

pub(crate) fn decode_continue(token: &str) -> Result<(u64, String), Error> {
    use base64::Engine as _;
    let bad = || Error::Status {
        code: 400,
        body: status(
            400,
            "BadRequest",
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ),
    };
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rv, start.trim_end_matches('\u{0}').to_owned()))
}
