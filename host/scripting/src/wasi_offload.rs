//! WASI calls that may block, announced to tokio only when made.
//!
//! An extension's guest call runs directly on the reactor worker that read
//! the request (no `block_in_place` per call). wasmtime-wasi's synchronous
//! bindings run some calls through `in_tokio`, i.e. `block_on`, which panics
//! on a runtime worker: the blocking stream calls (`blocking-write-and-flush`,
//! what a guest's `eprintln!` does, `blocking-flush`, `blocking-read`, ...),
//! the drop of a stream handle, `pollable.ready`, and a few socket calls.
//! These definitions shadow those functions and resource destructors in the
//! extensions' linker with the same implementations run through
//! [`off_reactor`], so tokio is told about blocking work only when a guest
//! actually makes such a call (elsewhere, e.g. on a script runner thread,
//! they simply run). `poll` and `pollable.block` are shadowed by `wait.rs`,
//! which does the same. The filesystem calls need a descriptor, and an
//! extension's WASI context has no preopened directory, so a guest cannot
//! reach them.
//!
//! A guest that computes for long on a worker still holds it: the bound is
//! the per-request CPU budget (the epoch deadline), as for any request.

use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceType};
use wasmtime::StoreContextMut;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, Host as _, IpAddressFamily, IpSocketAddress, Network};
use wasmtime_wasi::p2::bindings::sync::io::poll::{self, Pollable};
use wasmtime_wasi::p2::bindings::sync::io::streams::{self, InputStream, OutputStream};
use wasmtime_wasi::p2::bindings::sync::sockets::tcp::{HostTcpSocket, TcpSocket};
use wasmtime_wasi::p2::bindings::sync::sockets::udp::{
    HostOutgoingDatagramStream, HostUdpSocket, IncomingDatagramStream, OutgoingDatagramStream, UdpSocket,
};
use wasmtime_wasi::p2::bindings::sync::sockets::udp_create_socket::Host as _;
use wasmtime_wasi::p2::{SocketResult, StreamError, StreamResult};
use wasmtime_wasi::sockets::WasiSocketsView;
use wasmtime_wasi::WasiView;

use crate::instance::HostState;
use crate::reactor::off_reactor;

/// The `wasi:sockets` version `add_to_linker_sync` defines.
const SOCKETS_VERSION: &str = "0.2.12";

/// The resource table, seen through the blocking-aware implementations.
struct Offload<'a>(&'a mut ResourceTable);

struct OffloadData;

impl HasData for OffloadData {
    type Data<'a> = Offload<'a>;
}

fn table(state: &mut HostState) -> Offload<'_> {
    Offload(state.ctx().table)
}

/// Shadow every WASI function (and resource destructor) of the extensions'
/// linker whose synchronous binding calls `block_on`. Needs the linker to
/// allow shadowing; `wait::shadow_blocking_waits` goes after it.
pub fn shadow_blocking_calls(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    streams::add_to_linker::<HostState, OffloadData>(linker, table)?;
    poll::add_to_linker::<HostState, OffloadData>(linker, table)?;
    shadow_sockets(linker)
}

impl streams::Host for Offload<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(self.0, err)
    }
}

impl streams::HostOutputStream for Offload<'_> {
    fn drop(&mut self, stream: Resource<OutputStream>) -> wasmtime::Result<()> {
        off_reactor(|| streams::HostOutputStream::drop(self.0, stream))
    }

    fn check_write(&mut self, stream: Resource<OutputStream>) -> StreamResult<u64> {
        self.0.check_write(stream)
    }

    fn write(&mut self, stream: Resource<OutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        self.0.write(stream, bytes)
    }

    fn blocking_write_and_flush(&mut self, stream: Resource<OutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        off_reactor(|| self.0.blocking_write_and_flush(stream, bytes))
    }

    fn blocking_write_zeroes_and_flush(&mut self, stream: Resource<OutputStream>, len: u64) -> StreamResult<()> {
        off_reactor(|| self.0.blocking_write_zeroes_and_flush(stream, len))
    }

    fn subscribe(&mut self, stream: Resource<OutputStream>) -> wasmtime::Result<Resource<Pollable>> {
        streams::HostOutputStream::subscribe(self.0, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<OutputStream>, len: u64) -> StreamResult<()> {
        self.0.write_zeroes(stream, len)
    }

    fn flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        self.0.flush(stream)
    }

    fn blocking_flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        off_reactor(|| self.0.blocking_flush(stream))
    }

    fn splice(&mut self, dst: Resource<OutputStream>, src: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        self.0.splice(dst, src, len)
    }

    fn blocking_splice(&mut self, dst: Resource<OutputStream>, src: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        off_reactor(|| self.0.blocking_splice(dst, src, len))
    }
}

impl streams::HostInputStream for Offload<'_> {
    fn drop(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<()> {
        off_reactor(|| streams::HostInputStream::drop(self.0, stream))
    }

    fn read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        self.0.read(stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        off_reactor(|| self.0.blocking_read(stream, len))
    }

    fn skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        self.0.skip(stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        off_reactor(|| self.0.blocking_skip(stream, len))
    }

    fn subscribe(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<Resource<Pollable>> {
        streams::HostInputStream::subscribe(self.0, stream)
    }
}

impl poll::Host for Offload<'_> {
    fn poll(&mut self, list: Vec<Resource<Pollable>>) -> wasmtime::Result<Vec<u32>> {
        off_reactor(|| poll::Host::poll(self.0, list))
    }
}

impl poll::HostPollable for Offload<'_> {
    fn block(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        off_reactor(|| poll::HostPollable::block(self.0, pollable))
    }

    fn ready(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<bool> {
        off_reactor(|| poll::HostPollable::ready(self.0, pollable))
    }

    fn drop(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        poll::HostPollable::drop(self.0, pollable)
    }
}

/// A socket call's result in the form the component model lowers: the
/// error code, or a trap for an error that is not one.
fn lowered<T>(state: &mut HostState, r: SocketResult<T>) -> wasmtime::Result<(Result<T, ErrorCode>,)> {
    Ok((match r {
        Ok(v) => Ok(v),
        Err(e) => Err(state.sockets().convert_error_code(e)?),
    },))
}

/// The socket calls whose synchronous binding calls `block_on`: binding a
/// socket, listening, opening a UDP socket's streams, creating a UDP socket
/// and dropping an outgoing datagram stream.
fn shadow_sockets(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut tcp = linker.instance(&format!("wasi:sockets/tcp@{SOCKETS_VERSION}"))?;
    tcp.func_wrap(
        "[method]tcp-socket.start-bind",
        |mut store: StoreContextMut<HostState>, (socket, network, local): (Resource<TcpSocket>, Resource<Network>, IpSocketAddress)| {
            let state = store.data_mut();
            let r = off_reactor(|| HostTcpSocket::start_bind(&mut state.sockets(), socket, network, local));
            lowered(state, r)
        },
    )?;
    tcp.func_wrap(
        "[method]tcp-socket.start-listen",
        |mut store: StoreContextMut<HostState>, (socket,): (Resource<TcpSocket>,)| {
            let state = store.data_mut();
            let r = off_reactor(|| state.sockets().start_listen(socket));
            lowered(state, r)
        },
    )?;
    let mut udp = linker.instance(&format!("wasi:sockets/udp@{SOCKETS_VERSION}"))?;
    udp.func_wrap(
        "[method]udp-socket.start-bind",
        |mut store: StoreContextMut<HostState>, (socket, network, local): (Resource<UdpSocket>, Resource<Network>, IpSocketAddress)| {
            let state = store.data_mut();
            let r = off_reactor(|| HostUdpSocket::start_bind(&mut state.sockets(), socket, network, local));
            lowered(state, r)
        },
    )?;
    udp.func_wrap(
        "[method]udp-socket.stream",
        |mut store: StoreContextMut<HostState>, (socket, remote): (Resource<UdpSocket>, Option<IpSocketAddress>)| {
            let state = store.data_mut();
            let r: SocketResult<(Resource<IncomingDatagramStream>, Resource<OutgoingDatagramStream>)> =
                off_reactor(|| state.sockets().stream(socket, remote));
            lowered(state, r)
        },
    )?;
    udp.resource(
        "outgoing-datagram-stream",
        ResourceType::host::<OutgoingDatagramStream>(),
        |mut store: StoreContextMut<HostState>, rep: u32| {
            let state = store.data_mut();
            off_reactor(|| HostOutgoingDatagramStream::drop(&mut state.sockets(), Resource::new_own(rep)))
        },
    )?;
    let mut create = linker.instance(&format!("wasi:sockets/udp-create-socket@{SOCKETS_VERSION}"))?;
    create.func_wrap("create-udp-socket", |mut store: StoreContextMut<HostState>, (family,): (IpAddressFamily,)| {
        let state = store.data_mut();
        let r = off_reactor(|| state.sockets().create_udp_socket(family));
        lowered(state, r)
    })?;
    Ok(())
}
