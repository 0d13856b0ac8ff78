//! Structured inputs from the fuzzer's bytes: each call consumes a byte (zero once they run
//! out), so every input decodes to some case and small mutations make small changes.

pub(crate) struct Pick<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Pick<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Pick { data, at: 0 }
    }

    pub(crate) fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    pub(crate) fn one<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }

    pub(crate) fn chance(&mut self, in_256: u8) -> bool {
        self.byte() < in_256
    }

    /// The bytes not consumed yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.data.get(self.at..).unwrap_or_default()
    }
}
