//! The shape every batch request is written in, whatever connection sends it.

/// Where a batch's commands are written: each command is `command(n)` followed by its `n`
/// arguments, its name first.
pub(super) trait Commands {
    fn command(&mut self, args: usize) -> &mut Self;
    fn arg(&mut self, bytes: &[u8]) -> &mut Self;
    /// One argument made of several pieces (a prefix, a key, a suffix).
    fn arg_parts(&mut self, parts: &[&[u8]]) -> &mut Self;
    fn arg_u64(&mut self, n: u64) -> &mut Self {
        self.arg(itoa::Buffer::new().format(n).as_bytes())
    }
}
