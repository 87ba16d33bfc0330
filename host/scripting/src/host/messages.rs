//! `messages`: any protocol request as JSON text, through the byte entry
//! (`HostState::send_request`): decoded once by the protocol's decoder, the
//! type's registered grant, bound to its typed request, the same scope check
//! as the typed imports on the bound value, dispatched re-encoded from it
//! (`Dispatcher::handle_decoded`).

use dispatcher_protocol::Encoding;

use crate::bindings::opensim::dispatcher::messages::Host;
use crate::bindings::opensim::dispatcher::types::Error as GuestError;
use crate::error::HostError;
use crate::instance::HostState;

impl Host for HostState {
    fn send(&mut self, request: String) -> Result<String, HostError> {
        self.timed(|h| {
            let reply = h.send_request(request.as_bytes())?;
            let text = String::from_utf8_lossy(&reply.encode(Encoding::Json)).into_owned();
            if text.len() > h.shared.limits.max_message_bytes {
                return Err(HostError::Guest(GuestError::TooLarge));
            }
            Ok(text)
        })
    }
}
