//! One trivial layer, written four ways, so the only difference measured
//! is how the stack is composed and called.
//!
//! The layer's logic is the same everywhere: count the call in a shared
//! [`Counter`], add 1 to the request on the way in, await the inner
//! service, add 1 to the response on the way out. The innermost service
//! returns the request. A stack of `d` layers therefore answers `r` with
//! `r + 2d`, and the counter grows by `d` per call; both are checked.
//!
//! | flavour | types | as in |
//! |---|---|---|
//! | tower | [`AddOneLayer`] -> [`AddOne`] over [`Leaf`], future [`AddOneFuture`] | the `tokio-tower` core's layers |
//! | service-async | [`AddOneFactory`] -> [`AddOneSvc`] over [`LeafSvc`], built with `FactoryStack` | the `monoio` / `glommio` cores' layers |
//! | plain async fn | [`plain`] | no abstraction: the floor |
//!
//! The tower future is a named, unboxed type ([`AddOneFuture`]): a tower
//! stack *can* avoid boxing, so boxing is not charged to tower here. Its
//! `Unpin` bound lets the future be polled without pin projection (and so
//! without unsafe code); every future in these stacks is `Unpin`.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use service_async::layer::{FactoryLayer, layer_fn};
use service_async::stack::FactoryStack;
use service_async::{MakeService, Param};

/// Calls seen by every layer of a stack, shared like a real layer's
/// metrics or limits (an `Arc`, so cloning a tower stack costs what it
/// costs in a real proxy: one reference count per layer).
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Counts one call.
    #[inline]
    pub fn hit(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

// === tower ===

/// The innermost tower service: answers with the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Leaf;

impl tower::Service<u64> for Leaf {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        ready(Ok(req))
    }
}

/// Tower layer producing [`AddOne`].
#[derive(Debug, Clone)]
pub struct AddOneLayer {
    counter: Counter,
}

impl AddOneLayer {
    /// A layer counting into `counter`.
    pub fn new(counter: Counter) -> Self {
        AddOneLayer { counter }
    }
}

impl<S> tower::Layer<S> for AddOneLayer {
    type Service = AddOne<S>;

    fn layer(&self, inner: S) -> AddOne<S> {
        AddOne {
            inner,
            counter: self.counter.clone(),
        }
    }
}

/// The tower layer's service.
#[derive(Debug, Clone)]
pub struct AddOne<S> {
    inner: S,
    counter: Counter,
}

impl<S> tower::Service<u64> for AddOne<S>
where
    S: tower::Service<u64, Response = u64>,
    S::Future: Unpin,
{
    type Response = u64;
    type Error = S::Error;
    type Future = AddOneFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: u64) -> Self::Future {
        self.counter.hit();
        AddOneFuture {
            inner: self.inner.call(req + 1),
        }
    }
}

/// [`AddOne`]'s response future: the inner future, plus 1 on the way out.
#[derive(Debug)]
pub struct AddOneFuture<F> {
    inner: F,
}

impl<F, E> Future for AddOneFuture<F>
where
    F: Future<Output = Result<u64, E>> + Unpin,
{
    type Output = Result<u64, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner)
            .poll(cx)
            .map(|out| out.map(|r| r + 1))
    }
}

/// Four tower layers around `inner`.
pub type Tower4<S> = AddOne<AddOne<AddOne<AddOne<S>>>>;

/// A tower stack of 1 layer.
pub fn tower_1(counter: &Counter) -> AddOne<Leaf> {
    tower_wrap(counter, Leaf)
}

/// A tower stack of 4 layers.
pub fn tower_4(counter: &Counter) -> Tower4<Leaf> {
    tower_wrap4(counter, Leaf)
}

/// A tower stack of 16 layers.
pub fn tower_16(counter: &Counter) -> Tower4<Tower4<Tower4<Tower4<Leaf>>>> {
    let s = tower_wrap4(counter, Leaf);
    let s = tower_wrap4(counter, s);
    let s = tower_wrap4(counter, s);
    tower_wrap4(counter, s)
}

fn tower_wrap<S>(counter: &Counter, inner: S) -> AddOne<S> {
    tower::Layer::layer(&AddOneLayer::new(counter.clone()), inner)
}

fn tower_wrap4<S>(counter: &Counter, inner: S) -> Tower4<S> {
    let layer = AddOneLayer::new(counter.clone());
    tower::ServiceBuilder::new()
        .layer(layer.clone())
        .layer(layer.clone())
        .layer(layer.clone())
        .layer(layer)
        .service(inner)
}

// === service-async ===

/// The configuration a `FactoryStack` hands each layer: just the counter.
#[derive(Debug, Clone, Default)]
pub struct StackConfig {
    /// Shared call counter.
    pub counter: Counter,
}

impl Param<Counter> for StackConfig {
    fn param(&self) -> Counter {
        self.counter.clone()
    }
}

/// The innermost borrowing service: answers with the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeafSvc;

impl service_async::Service<u64> for LeafSvc {
    type Response = u64;
    type Error = Infallible;

    async fn call(&self, req: u64) -> Result<u64, Infallible> {
        Ok(req)
    }
}

/// Factory of [`LeafSvc`], the bottom of the `FactoryStack`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeafFactory;

impl MakeService for LeafFactory {
    type Service = LeafSvc;
    type Error = Infallible;

    fn make_via_ref(&self, _old: Option<&LeafSvc>) -> Result<LeafSvc, Infallible> {
        Ok(LeafSvc)
    }
}

/// The borrowing layer's service: borrows itself for the whole call.
#[derive(Debug)]
pub struct AddOneSvc<S> {
    inner: S,
    counter: Counter,
}

impl<S> service_async::Service<u64> for AddOneSvc<S>
where
    S: service_async::Service<u64, Response = u64>,
{
    type Response = u64;
    type Error = S::Error;

    async fn call(&self, req: u64) -> Result<u64, S::Error> {
        self.counter.hit();
        Ok(self.inner.call(req + 1).await? + 1)
    }
}

/// Factory of [`AddOneSvc`]: what [`AddOneFactory::layer`] pushes.
#[derive(Debug)]
pub struct AddOneFactory<F> {
    inner: F,
    counter: Counter,
}

impl<F> AddOneFactory<F> {
    /// A `FactoryStack` layer; the stack's config supplies the counter.
    pub fn layer<C: Param<Counter>>() -> impl FactoryLayer<C, F, Factory = Self> {
        layer_fn(|config: &C, inner| AddOneFactory {
            inner,
            counter: config.param(),
        })
    }
}

impl<F: MakeService> MakeService for AddOneFactory<F> {
    type Service = AddOneSvc<F::Service>;
    type Error = F::Error;

    fn make_via_ref(&self, old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        Ok(AddOneSvc {
            inner: self.inner.make_via_ref(old.map(|o| &o.inner))?,
            counter: self.counter.clone(),
        })
    }
}

/// Four borrowing layers' factories around `F`.
pub type Factory4<F> = AddOneFactory<AddOneFactory<AddOneFactory<AddOneFactory<F>>>>;

fn push4<F>(stack: FactoryStack<StackConfig, F>) -> FactoryStack<StackConfig, Factory4<F>> {
    stack
        .push(AddOneFactory::layer())
        .push(AddOneFactory::layer())
        .push(AddOneFactory::layer())
        .push(AddOneFactory::layer())
}

fn base(counter: &Counter) -> FactoryStack<StackConfig, LeafFactory> {
    FactoryStack::new(StackConfig {
        counter: counter.clone(),
    })
    .replace(LeafFactory)
}

/// A borrowing stack of 1 layer.
pub fn borrowing_1(counter: &Counter) -> AddOneSvc<LeafSvc> {
    let Ok(svc) = base(counter)
        .push(AddOneFactory::layer())
        .check_make_svc::<u64>()
        .make();
    svc
}

/// A borrowing stack of 4 layers.
pub fn borrowing_4(counter: &Counter) -> <Factory4<LeafFactory> as MakeService>::Service {
    let Ok(svc) = push4(base(counter)).check_make_svc::<u64>().make();
    svc
}

/// A borrowing stack of 16 layers.
pub fn borrowing_16(
    counter: &Counter,
) -> <Factory4<Factory4<Factory4<Factory4<LeafFactory>>>> as MakeService>::Service {
    let Ok(svc) = push4(push4(push4(push4(base(counter)))))
        .check_make_svc::<u64>()
        .make();
    svc
}

// === plain async fn ===

/// The floor: the same work as `D` layers — count, add 1 in, add 1 out —
/// in one async function with no service abstraction. `D` is a constant,
/// as a stack's depth is, so the compiler may unroll it as it can inline
/// a stack.
pub async fn plain<const D: u32>(counter: &Counter, req: u64) -> Result<u64, Infallible> {
    for _ in 0..D {
        counter.hit();
    }
    let resp = plain_leaf(req + u64::from(D)).await?;
    Ok(resp + u64::from(D))
}

async fn plain_leaf(req: u64) -> Result<u64, Infallible> {
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_async::Service as _;
    use tower::ServiceExt as _;

    fn block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(fut)
    }

    #[test]
    fn every_flavour_computes_the_same_answer() {
        let c = Counter::default();
        block_on(async {
            assert_eq!(tower_1(&c).oneshot(10).await.unwrap(), 12);
            assert_eq!(tower_4(&c).oneshot(10).await.unwrap(), 18);
            assert_eq!(tower_16(&c).oneshot(10).await.unwrap(), 42);
            assert_eq!(borrowing_1(&c).call(10).await.unwrap(), 12);
            assert_eq!(borrowing_4(&c).call(10).await.unwrap(), 18);
            assert_eq!(borrowing_16(&c).call(10).await.unwrap(), 42);
            assert_eq!(plain::<16>(&c, 10).await.unwrap(), 42);
        });
        assert_eq!(c.get(), 2 * (1 + 4 + 16) + 16);
    }
}
