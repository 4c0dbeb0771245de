//! What runs the world: the fixed-rate tick thread, the fan-out of each tick's events to
//! the connections (motion datagrams through the datagram post), the space loader, and
//! the directory of loaded spaces the HTTP API reads. Later, the cluster's membership and
//! ownership of spaces.

pub(crate) mod datagrams;
pub(crate) mod deliver;
pub(crate) mod directory;
pub(crate) mod loader;
pub(crate) mod tick;
