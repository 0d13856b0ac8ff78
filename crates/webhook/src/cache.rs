//! Watch caches: one abstraction over `kube::runtime::reflector` for every resource the
//! webhook watches (credspecs, RBAC objects, Nodes, RuntimeClasses).
//!
//! A [`Cache`] is a reflector [`Store`] fed by a watcher that runs until its
//! [`CancellationToken`] is cancelled, with:
//!
//! - the relist-on-410 fix: an API server without a watch cache answers a watch from an
//!   expired resourceVersion with HTTP 410 instead of an `ERROR` event, and kube-runtime's
//!   watcher then retries the same resourceVersion forever. The watcher is replaced by a
//!   fresh one, which lists again; the store swaps in the new list at its end, so objects
//!   deleted while the watch was down disappear.
//! - readiness through a `tokio::sync::watch` channel: [`Cache::is_synced`] for the
//!   per-review check, [`Cache::synced`] to await the first complete list (no polling).
//! - either whole objects less what nobody reads ([`Cache::spawn`] with a `.modify()`), or a
//!   slim projection where memory needs it ([`Cache::spawn_projected`] with a
//!   [`Projection`]).
//! - optionally, an index by namespace ([`Cache::visit_namespace`]) for namespaced kinds that
//!   are read a namespace at a time (RoleBindings), sharing the store's objects.

use futures::{Stream, StreamExt, TryStreamExt, future};
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, Lookup, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, reflector::store::Writer};
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Debug;
use std::ops::ControlFlow;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A slim form of a watched resource, stored instead of the whole object. It must carry the
/// object's name (and namespace, for namespaced kinds): the store keys entries by them.
pub trait Projection: Clone + Send + Sync + 'static {
    /// The watched resource.
    type Resource: Resource<DynamicType = ()>;
    fn name(&self) -> &str;
    /// `None` for cluster-scoped kinds.
    fn namespace(&self) -> Option<&str> {
        None
    }
}

/// A [`Projection`] as a reflector store entry (the store needs [`Lookup`], which cannot be
/// implemented for every projection directly). Same layout as `P`: no extra allocation.
#[derive(Clone, Debug)]
#[repr(transparent)]
pub struct Slim<P>(pub P);

impl<P: Projection> Lookup for Slim<P> {
    type DynamicType = ();

    fn kind(_: &()) -> Cow<'_, str> {
        <P::Resource as Resource>::kind(&())
    }
    fn group(_: &()) -> Cow<'_, str> {
        <P::Resource as Resource>::group(&())
    }
    fn version(_: &()) -> Cow<'_, str> {
        <P::Resource as Resource>::version(&())
    }
    fn plural(_: &()) -> Cow<'_, str> {
        <P::Resource as Resource>::plural(&())
    }
    fn name(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.0.name()))
    }
    fn namespace(&self) -> Option<Cow<'_, str>> {
        self.0.namespace().map(Cow::Borrowed)
    }
    fn resource_version(&self) -> Option<Cow<'_, str>> {
        None
    }
    fn uid(&self) -> Option<Cow<'_, str>> {
        None
    }
}

type ByNamespace<K> = RwLock<HashMap<String, HashMap<String, Arc<K>>>>;

/// A watched, read-only cache of `K`. Cloning shares the store.
pub struct Cache<K: Lookup<DynamicType = ()> + 'static> {
    /// The resource's name in logs and metrics (`gmsacredentialspecs`, `nodes`, ...).
    what: &'static str,
    store: Store<K>,
    synced: watch::Receiver<bool>,
    by_namespace: Option<Arc<ByNamespace<K>>>,
}

impl<K: Lookup<DynamicType = ()> + 'static> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Self {
            what: self.what,
            store: self.store.clone(),
            synced: self.synced.clone(),
            by_namespace: self.by_namespace.clone(),
        }
    }
}

impl<K: Lookup<DynamicType = ()> + 'static> Debug for Cache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("kind", &K::kind(&()))
            .field("synced", &*self.synced.borrow())
            .finish_non_exhaustive()
    }
}

/// What metrics and readiness read of a cache, without its type: its name, size and whether
/// it has synced. Implemented by every [`Cache`].
pub trait CacheStatus: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn objects(&self) -> usize;
    fn is_synced(&self) -> bool;
}

impl<K> CacheStatus for Cache<K>
where
    K: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        self.what
    }

    fn objects(&self) -> usize {
        self.len()
    }

    fn is_synced(&self) -> bool {
        Cache::is_synced(self)
    }
}

/// How a cache is watched and what it keeps beyond the store.
#[derive(Clone, Debug, Default)]
pub struct CacheOptions {
    /// Keep an index by namespace, for [`Cache::visit_namespace`].
    pub index_by_namespace: bool,
    /// Watch only what this field selector selects (`metadata.name=...` for one object,
    /// which RBAC `resourceNames` then allows).
    pub field_selector: Option<String>,
}

/// Drops the metadata no cache reader uses (`managedFields` alone is often most of an
/// object). For [`Cache::spawn`]'s `modify`.
pub fn drop_unread_metadata<R: Resource>(obj: &mut R) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    meta.annotations = None;
}

impl<K> Cache<K>
where
    K: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// The entry named `name` (in `namespace`, for namespaced kinds): one hash lookup.
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        let mut key = ObjectRef::<K>::new_with(name, ());
        key.namespace = namespace.map(str::to_owned);
        self.store.get(&key)
    }

    /// Entries currently held.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Whether the cache has held a complete list (it stays true while the watch reconnects:
    /// the last list keeps answering).
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Resolves once the cache holds a complete list; never, if its task stops before.
    pub async fn synced(&self) {
        let mut rx = self.synced.clone();
        if rx.wait_for(|s| *s).await.is_err() {
            future::pending::<()>().await;
        }
    }

    /// Visits every entry under the store's read lock, without copying the entries out,
    /// until `visit` breaks.
    pub fn visit(&self, visit: &mut dyn FnMut(&K) -> ControlFlow<()>) -> ControlFlow<()> {
        // `Store::find` is the store's only visit that borrows instead of cloning.
        let visit = std::cell::RefCell::new(visit);
        match self.store.find(|k| (visit.borrow_mut())(k).is_break()) {
            Some(_) => ControlFlow::Break(()),
            None => ControlFlow::Continue(()),
        }
    }

    /// Visits the entries of one namespace (with [`CacheOptions::index_by_namespace`]; all
    /// entries of the namespace are filtered from the whole store otherwise).
    pub fn visit_namespace(
        &self,
        namespace: &str,
        visit: &mut dyn FnMut(&K) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        match &self.by_namespace {
            Some(index) => {
                let index = index
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for obj in index.get(namespace).into_iter().flat_map(HashMap::values) {
                    visit(obj)?;
                }
                ControlFlow::Continue(())
            }
            None => self.visit(&mut |k| {
                if k.namespace().as_deref() == Some(namespace) {
                    visit(k)
                } else {
                    ControlFlow::Continue(())
                }
            }),
        }
    }

    /// Runs `stream` into a new store until `cancel`. `on_change` runs after each change the
    /// store has applied (a complete list, an upsert, a delete), not per listed object.
    fn run<S>(
        what: &'static str,
        stream: S,
        opts: CacheOptions,
        mut on_change: impl FnMut(&Store<K>) + Send + 'static,
        cancel: CancellationToken,
    ) -> (Self, JoinHandle<()>)
    where
        S: Stream<Item = watcher::Result<Event<K>>> + Send + 'static,
    {
        let writer: Writer<K> = Writer::new(());
        let store = writer.as_reader();
        let (synced_tx, synced) = watch::channel(false);
        let by_namespace = opts
            .index_by_namespace
            .then(|| Arc::new(ByNamespace::<K>::default()));
        let cache = Self {
            what,
            store: store.clone(),
            synced,
            by_namespace: by_namespace.clone(),
        };
        let events = reflector::reflector(writer, stream).take_until(cancel.cancelled_owned());
        let task = tokio::spawn(events.for_each(move |event| {
            match event {
                Ok(Event::Init | Event::InitApply(_)) => {}
                Ok(change) => {
                    if let Some(index) = &by_namespace {
                        update_index(index, &store, &change);
                    }
                    on_change(&store);
                    if matches!(change, Event::InitDone) && !*synced_tx.borrow() {
                        tracing::info!(resource = what, objects = store.len(), "cache synced");
                        synced_tx.send_replace(true);
                    }
                }
                Err(e) => {
                    tracing::warn!(resource = what, error = %e, "watch failed; retrying with backoff")
                }
            }
            future::ready(())
        }));
        (cache, task)
    }
}

/// Keeps the namespace index in step with the store: rebuilt from the store after a complete
/// list (so it shares the store's objects and drops what the list no longer has), edited in
/// place for single changes.
fn update_index<K>(index: &ByNamespace<K>, store: &Store<K>, change: &Event<K>)
where
    K: Lookup<DynamicType = ()> + Clone + 'static,
{
    let key = |k: &K| {
        (
            k.namespace().map(Cow::into_owned).unwrap_or_default(),
            k.name().map(Cow::into_owned).unwrap_or_default(),
        )
    };
    let mut index = index
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match change {
        Event::InitDone => {
            let mut fresh: HashMap<String, HashMap<String, Arc<K>>> = HashMap::new();
            for obj in store.state() {
                let (ns, name) = key(&obj);
                fresh.entry(ns).or_default().insert(name, obj);
            }
            *index = fresh;
        }
        Event::Apply(obj) => {
            let (ns, name) = key(obj);
            // The store's copy, so the index holds no second one.
            match store.get(&obj.to_object_ref(())) {
                Some(shared) => {
                    index.entry(ns).or_default().insert(name, shared);
                }
                None => remove(&mut index, &ns, &name),
            }
        }
        Event::Delete(obj) => {
            let (ns, name) = key(obj);
            remove(&mut index, &ns, &name);
        }
        Event::Init | Event::InitApply(_) => {}
    }
}

fn remove<V>(index: &mut HashMap<String, HashMap<String, V>>, ns: &str, name: &str) {
    if let Some(inner) = index.get_mut(ns) {
        inner.remove(name);
        if inner.is_empty() {
            index.remove(ns);
        }
    }
}

impl<R> Cache<R>
where
    R: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// Caches whole objects of `api`, each passed through `modify` first (use
    /// [`drop_unread_metadata`] unless the readers need more).
    pub fn spawn(
        what: &'static str,
        api: Api<R>,
        modify: impl FnMut(&mut R) + Send + 'static,
        opts: CacheOptions,
        on_change: impl FnMut(&Store<R>) + Send + 'static,
        cancel: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let stream = relisting_watcher(what, api, watch_config(&opts)).modify(modify);
        Self::run(what, stream, opts, on_change, cancel)
    }
}

impl<P: Projection> Cache<Slim<P>> {
    /// Caches `project(object)` instead of the objects of `api`. `W` is how the watch decodes
    /// them (the resource itself, or a type that skips what `project` does not read so a
    /// list response is never materialised whole).
    pub fn spawn_projected<W>(
        what: &'static str,
        api: Api<W>,
        mut project: impl FnMut(W) -> P + Send + 'static,
        opts: CacheOptions,
        on_change: impl FnMut(&Store<Slim<P>>) + Send + 'static,
        cancel: CancellationToken,
    ) -> (Self, JoinHandle<()>)
    where
        W: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    {
        let stream = relisting_watcher(what, api, watch_config(&opts))
            .map_ok(move |event| map_event(event, |w| Slim(project(w))));
        Self::run(what, stream, opts, on_change, cancel)
    }
}

fn map_event<A, B>(event: Event<A>, mut f: impl FnMut(A) -> B) -> Event<B> {
    match event {
        Event::Apply(a) => Event::Apply(f(a)),
        Event::Delete(a) => Event::Delete(f(a)),
        Event::Init => Event::Init,
        Event::InitApply(a) => Event::InitApply(f(a)),
        Event::InitDone => Event::InitDone,
    }
}

/// Objects per list page. kube-runtime asks for 500; a page is decoded whole before its
/// objects are projected, and 100 kept the peak of a 10,000-credspec sync 0.7 MiB lower
/// (issue 9's memory target) for 100 list requests instead of 20.
const LIST_PAGE_SIZE: u32 = 100;

fn watch_config(opts: &CacheOptions) -> watcher::Config {
    let config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
    match &opts.field_selector {
        Some(f) => config.fields(f),
        None => config,
    }
}

/// The watcher of `api` with backoff, replaced by a fresh one (which lists again) when a watch
/// start fails with HTTP 410 (see the module documentation).
fn relisting_watcher<R>(
    what: &'static str,
    api: Api<R>,
    config: watcher::Config,
) -> impl Stream<Item = watcher::Result<Event<R>>> + Send + 'static
where
    R: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
{
    futures::stream::repeat_with(move || {
        watcher::watcher(api.clone(), config.clone())
            .default_backoff()
            .take_while(move |event| {
                let gone = matches!(
                    event,
                    Err(watcher::Error::WatchStartFailed(kube::Error::Api(s))) if s.code == 410
                );
                if gone {
                    tracing::info!(resource = what, "resourceVersion expired; relisting");
                }
                future::ready(!gone)
            })
    })
    .flatten()
}
