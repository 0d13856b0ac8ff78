//! The HTTPS front of the stand-in: routing Kubernetes API paths to the store, watches, and
//! access reviews.

use crate::patch::{self, PatchType};
use crate::selectors::{FieldSelector, LabelSelector, Selector};
use crate::store::{EventType, StoredEvent, status};
use crate::{Error, GoneMode, Issued, RecordedRequest, Shared, lock};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

type Body = BoxBody<Bytes, Infallible>;

pub(crate) async fn serve(listener: tokio::net::TcpListener, leaf: Issued, shared: Arc<Shared>) {
    let acceptor = match tls_acceptor(&leaf) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "testkit API server TLS setup failed");
            return;
        }
    };
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let mut stopped = shared.stopped.subscribe();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), svc);
            // Stopping drops the connection mid-request, as a process that ends would.
            tokio::select! {
                _ = conn => {}
                _ = stopped.wait_for(|s| *s) => {}
            }
        });
    }
}

fn tls_acceptor(leaf: &Issued) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let err = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
    let cert = CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).map_err(|e| err(&e))?;
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).map_err(|e| err(&e))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| err(&e))?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .map_err(|e| err(&e))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

fn full(code: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: Error) -> Response<Body> {
    match e {
        Error::Status { code, body } => full(code, &body),
        other => full(500, &status(500, "InternalError", other.to_string())),
    }
}

/// Minimal percent-decoding for query values.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Query {
    watch: bool,
    resource_version: Option<String>,
    bookmarks: bool,
    timeout: Option<Duration>,
    field_selector: String,
    label_selector: String,
    limit: Option<usize>,
    continue_token: Option<String>,
}

impl Query {
    fn page(&self) -> crate::list::Page<'_> {
        crate::list::Page {
            limit: self.limit,
            continue_token: self.continue_token.as_deref(),
        }
    }
}

fn parse_query(q: &str) -> Query {
    let mut out = Query {
        watch: false,
        resource_version: None,
        bookmarks: false,
        timeout: None,
        field_selector: String::new(),
        label_selector: String::new(),
        limit: None,
        continue_token: None,
    };
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v);
        match k {
            "watch" => out.watch = v == "true" || v == "1",
            "resourceVersion" => out.resource_version = Some(v),
            "allowWatchBookmarks" => out.bookmarks = v == "true",
            "timeoutSeconds" => out.timeout = v.parse::<u64>().ok().map(Duration::from_secs),
            "fieldSelector" => out.field_selector = v,
            "labelSelector" => out.label_selector = v,
            // 0 means no limit, as on the API server.
            "limit" => out.limit = v.parse::<usize>().ok().filter(|n| *n > 0),
            "continue" if !v.is_empty() => out.continue_token = Some(v),
            _ => {}
        }
    }
    out
}

/// A parsed API path.
struct Target {
    ty: usize,
    namespace: Option<String>,
    name: Option<String>,
}

enum Route {
    Object(Target),
    AccessReview { namespace: Option<String> },
}

fn route(shared: &Shared, path: &str) -> Result<Route, Error> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(path_not_found(path)),
    };
    if group == "authorization.k8s.io" && version == "v1" {
        match rest {
            ["namespaces", ns, "localsubjectaccessreviews"] => {
                return Ok(Route::AccessReview {
                    namespace: Some((*ns).to_owned()),
                });
            }
            ["subjectaccessreviews"] => return Ok(Route::AccessReview { namespace: None }),
            _ => {}
        }
    }
    let st = shared.state();
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural] if *plural != "status" => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return Err(path_not_found(path)),
    };
    let ty = st
        .find_type(group, version, plural)
        .ok_or_else(|| path_not_found(path))?;
    if namespace.is_some() && !st.types[ty].namespaced {
        return Err(path_not_found(path));
    }
    Ok(Route::Object(Target {
        ty,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
    }))
}

fn path_not_found(path: &str) -> Error {
    Error::Status {
        code: 404,
        body: status(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        ),
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let index = {
        let mut requests = lock(&shared.requests);
        requests.push(RecordedRequest {
            method: req.method().to_string(),
            path: path.clone(),
            query: query.clone(),
            status: 0,
        });
        requests.len() - 1
    };
    let resp = handle_recorded(&shared, req, path, query).await;
    if let Some(r) = lock(&shared.requests).get_mut(index) {
        r.status = resp.status().as_u16();
    }
    resp
}

async fn handle_recorded(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    path: String,
    query: String,
) -> Response<Body> {
    let shared = shared.clone();
    let expected = format!("Bearer {}", shared.token);
    if req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return full(401, &status(401, "Unauthorized", "Unauthorized"));
    }
    if path == "/version" {
        return if req.method() == Method::GET {
            full(200, &crate::version::version_info(&lock(&shared.version)))
        } else {
            error_response(method_not_allowed())
        };
    }
    let route = match route(&shared, &path) {
        Ok(r) => r,
        Err(e) => return error_response(e),
    };
    let method = req.method().clone();
    if let Some(code) = lock(&shared.faults).injected_error(method.as_str(), &path) {
        return full(
            code,
            &status(
                code,
                "InternalError",
                format!("injected failure of {method} {path}"),
            ),
        );
    }
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match req.into_body().collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => return full(400, &status(400, "BadRequest", e.to_string())),
    };
    let q = parse_query(&query);
    let selector = match &route {
        Route::Object(t) => {
            let kind = shared.state().types[t.ty].kind.clone();
            match (
                FieldSelector::parse(&kind, &q.field_selector),
                LabelSelector::parse(&q.label_selector),
            ) {
                (Ok(fields), Ok(labels)) => Selector { fields, labels },
                (Err(e), _) | (_, Err(e)) => return error_response(e),
            }
        }
        Route::AccessReview { .. } => Selector::default(),
    };
    let result = match route {
        Route::AccessReview { namespace } if method == Method::POST => {
            access_review(&shared, namespace.as_deref(), &body).await
        }
        Route::AccessReview { .. } => Err(method_not_allowed()),
        Route::Object(t) => match (&method, t.name.as_deref()) {
            (&Method::GET, None) if q.watch => {
                let mut paused = shared.watches_paused.subscribe();
                let _ = paused.wait_for(|p| !*p).await;
                return watch(&shared, &t, &q, selector);
            }
            (&Method::GET, None) => match lock(&shared.faults).list_error {
                Some(code) => Err(Error::Status {
                    code,
                    body: status(code, "InternalError", "injected list failure"),
                }),
                None => crate::list::list(
                    &shared.state(),
                    t.ty,
                    t.namespace.as_deref(),
                    &q.page(),
                    &selector,
                ),
            },
            (&Method::GET, Some(name)) => {
                let st = shared.state();
                st.get(t.ty, t.namespace.as_deref().unwrap_or(""), name)
                    .map(|v| (200, v))
            }
            (&Method::POST, None) => parse(&body).and_then(|obj| {
                let mut st = shared.state();
                let (v, ev) = st.create(t.ty, t.namespace.as_deref(), obj)?;
                shared.publish(ev);
                Ok((201, v))
            }),
            (&Method::PUT, Some(name)) => parse(&body).and_then(|obj| {
                let mut st = shared.state();
                let (v, ev) = st.replace(t.ty, t.namespace.as_deref(), Some(name), obj)?;
                shared.publish(ev);
                Ok((200, v))
            }),
            (&Method::PATCH, Some(name)) => PatchType::from_content_type(content_type.as_deref())
                .and_then(|kind| {
                    let mut st = shared.state();
                    let ns = t.namespace.as_deref();
                    let current = st.get(t.ty, ns.unwrap_or(""), name)?;
                    let patched = patch::apply(&current, kind, &body)?;
                    let (v, ev) = st.replace(t.ty, ns, Some(name), patched)?;
                    shared.publish(ev);
                    Ok((200, v))
                }),
            (&Method::DELETE, Some(name)) => {
                let mut st = shared.state();
                st.delete(t.ty, t.namespace.as_deref().unwrap_or(""), name)
                    .map(|(v, ev)| {
                        shared.publish(ev);
                        (200, v)
                    })
            }
            _ => Err(method_not_allowed()),
        },
    };
    match result {
        Ok((code, v)) => full(code, &v),
        Err(e) => error_response(e),
    }
}

fn method_not_allowed() -> Error {
    Error::Status {
        code: 405,
        body: status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
    }
}

fn parse(body: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Status {
        code: 400,
        body: status(
            400,
            "BadRequest",
            format!("the request body is not valid JSON: {e}"),
        ),
    })
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn gone(requested: &str, compacted: u64) -> Value {
    status(
        410,
        "Expired",
        format!("too old resource version: {requested} ({compacted})"),
    )
}

fn watch(shared: &Arc<Shared>, t: &Target, q: &Query, selector: Selector) -> Response<Body> {
    let faults = lock(&shared.faults);
    let (gone_mode, bookmark_every) = (faults.gone_mode, faults.bookmark_interval);
    drop(faults);
    let st = shared.state();
    let rt = st.types[t.ty].clone();
    let requested = q.resource_version.clone().unwrap_or_default();
    let from: Option<u64> = match requested.as_str() {
        "" | "0" => None,
        s => match s.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                return full(
                    400,
                    &status(400, "BadRequest", format!("invalid resourceVersion {s:?}")),
                );
            }
        },
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let body_stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(body_stream)));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );

    if let Some(r) = from
        && r < st.compacted_rv
    {
        let s = gone(&requested, st.compacted_rv);
        if gone_mode == GoneMode::Http {
            return full(410, &s);
        }
        let line = event_line("ERROR", &s);
        tokio::spawn(async move {
            let _ = tx.send(line).await;
        });
        return resp;
    }
    let ns = t.namespace.clone();
    let initial_selector = selector.clone();
    let matches = move |ev: &StoredEvent, ty: usize| {
        ev.ty == ty
            && ns.as_deref().is_none_or(|n| n == ev.namespace)
            && selector.matches(&ev.object)
    };
    let initial: Vec<Bytes> = match from {
        None => st
            .list(t.ty, t.namespace.as_deref())
            .iter()
            .filter(|o| initial_selector.matches(o))
            .map(|o| event_line(EventType::Added.as_str(), o))
            .collect(),
        Some(r) => st
            .history
            .iter()
            .filter(|ev| ev.rv > r && matches(ev, t.ty))
            .map(|ev| event_line(ev.kind.as_str(), &ev.object))
            .collect(),
    };
    let mut last_rv = st.rv;
    let mut events = shared.events.subscribe();
    let mut closed = shared.close_watches.subscribe();
    drop(st);
    let ty = t.ty;
    let bookmarks = q.bookmarks;
    let deadline = q.timeout.map(|d| tokio::time::Instant::now() + d);
    tokio::spawn(async move {
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let mut tick = bookmark_every
            .filter(|_| bookmarks)
            .map(tokio::time::interval);
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        loop {
            let line = tokio::select! {
                // A close requested before later changes must win over delivering them.
                biased;
                _ = closed.changed() => return,
                ev = events.recv() => match ev {
                    Ok(ev) => {
                        last_rv = ev.rv;
                        if !matches(&ev, ty) { continue; }
                        event_line(ev.kind.as_str(), &ev.object)
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // The client fell too far behind: make it relist, as a real server would.
                        let _ = tx.send(event_line("ERROR", &gone(&last_rv.to_string(), last_rv))).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => return,
                _ = async {
                    match tick.as_mut() {
                        Some(t) => { t.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => event_line("BOOKMARK", &json!({
                    "kind": rt.kind,
                    "apiVersion": rt.api_version(),
                    "metadata": {"resourceVersion": last_rv.to_string()},
                })),
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    resp
}

async fn access_review(
    shared: &Shared,
    namespace: Option<&str>,
    body: &[u8],
) -> Result<(u16, Value), Error> {
    let mut review = parse(body)?;
    lock(&shared.reviews).push(review.clone());
    let (fail, delay) = {
        let f = lock(&shared.faults);
        (f.authz_error, f.authz_delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(code) = fail {
        return Err(Error::Status {
            code,
            body: status(code, "InternalError", "injected access review failure"),
        });
    }
    let bad = |msg: String| Error::Status {
        code: 400,
        body: status(400, "BadRequest", msg),
    };
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let attrs = spec
        .get("resourceAttributes")
        .cloned()
        .unwrap_or(Value::Null);
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    if let Some(ns) = namespace {
        if let Some(meta_ns) = review
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            && meta_ns != ns
        {
            return Err(bad("the namespace of the provided object does not match the namespace sent on the request".into()));
        }
        if s(&attrs, "namespace") != ns {
            return Err(bad(format!(
                "LocalSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes.namespace: Invalid value: {:?}: must match metadata.namespace",
                s(&attrs, "namespace")
            )));
        }
    }
    if attrs.is_null() {
        return Err(bad("spec.resourceAttributes: Required value: only resourceAttributes are supported by this stand-in".into()));
    }
    let user = s(&spec, "user");
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let snapshot = rbac_snapshot(shared)?;
    let (verb, group, resource, sub, name, ans) = (
        s(&attrs, "verb"),
        s(&attrs, "group"),
        s(&attrs, "resource"),
        s(&attrs, "subresource"),
        s(&attrs, "name"),
        s(&attrs, "namespace"),
    );
    let request = winkube_rbac::ResourceRequest::new(&verb, &group, &resource)
        .in_namespace(&ans)
        .with_subresource(&sub)
        .named(&name);
    let decision = winkube_rbac::authorize(
        &snapshot,
        &winkube_rbac::UserInfo::new(user, groups),
        request,
    );
    let mut st = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        st["reason"] = Value::String(decision.reason);
    }
    if let Some(map) = review.as_object_mut() {
        map.insert("status".into(), st);
        let kind = if namespace.is_some() {
            "LocalSubjectAccessReview"
        } else {
            "SubjectAccessReview"
        };
        map.insert("kind".into(), Value::String(kind.into()));
        map.insert(
            "apiVersion".into(),
            Value::String("authorization.k8s.io/v1".into()),
        );
    }
    Ok((201, review))
}

fn rbac_snapshot(shared: &Shared) -> Result<winkube_rbac::RbacSnapshot, Error> {
    let st = shared.state();
    let of = |kind: &str| -> Vec<Value> {
        st.type_index("rbac.authorization.k8s.io/v1", kind)
            .map(|ty| st.list(ty, None))
            .unwrap_or_default()
    };
    let conv = |e: serde_json::Error| Error::Status {
        code: 500,
        body: status(
            500,
            "InternalError",
            format!("stored RBAC object does not decode: {e}"),
        ),
    };
    let roles = of("Role")
        .into_iter()
        .map(serde_json::from_value::<Role>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(conv)?;
    let cluster_roles = of("ClusterRole")
        .into_iter()
        .map(serde_json::from_value::<ClusterRole>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(conv)?;
    let role_bindings = of("RoleBinding")
        .into_iter()
        .map(serde_json::from_value::<RoleBinding>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(conv)?;
    let cluster_role_bindings = of("ClusterRoleBinding")
        .into_iter()
        .map(serde_json::from_value::<ClusterRoleBinding>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(conv)?;
    winkube_rbac::RbacSnapshot::try_from_objects(
        roles,
        cluster_roles,
        role_bindings,
        cluster_role_bindings,
    )
    .map_err(|e| Error::Status {
        code: 500,
        body: status(
            500,
            "InternalError",
            format!("stored RBAC objects are inconsistent: {e}"),
        ),
    })
}
