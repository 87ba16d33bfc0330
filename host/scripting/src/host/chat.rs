//! `chat`: say through `ChatRequest`; listening is host state of the script.

use dispatcher_messages::remote_control::chat::ChatRequest;
use dispatcher_messages::remote_control::wire::WireVec3;

use crate::bindings::opensim::dispatcher::chat::Host;
use crate::bindings::opensim::dispatcher::types::Error as GuestError;
use crate::error::HostError;
use crate::instance::HostState;

/// Own lines remembered for self-echo suppression; older ones are forgotten
/// (a line that never came back must not pin memory).
const OWN_LINES_REMEMBERED: usize = 64;

impl Host for HostState {
    fn say(&mut self, channel: i32, text: String) -> Result<(), HostError> {
        self.require("chat")?;
        self.admit_chat()?;
        let info = &*self.acting;
        let position = self
            .shared
            .scene
            .object(&info.region, info.object_id)
            .map(|o| o.position)
            .unwrap_or([128.0, 128.0, 20.0]);
        {
            let mut own = self.script.own_lines.lock();
            own.push_back((channel, text.clone()));
            while own.len() > OWN_LINES_REMEMBERED {
                own.pop_front();
            }
        }
        let [x, y, z] = position;
        let position = Some(WireVec3::new(x, y, z));
        self.call(ChatRequest {
            message: text,
            position,
            channel,
        })
        .map(drop)
    }

    fn listen(&mut self, channel: i32) -> Result<(), HostError> {
        self.require("chat")?;
        self.admit()?;
        let mut listening = self.script.listening.lock();
        if !listening.contains(&channel) && listening.len() >= self.shared.limits.max_listen_channels {
            return Err(HostError::Guest(GuestError::TooLarge));
        }
        listening.insert(channel);
        Ok(())
    }

    fn unlisten(&mut self, channel: i32) -> Result<(), HostError> {
        self.require("chat")?;
        self.admit()?;
        self.script.listening.lock().remove(&channel);
        Ok(())
    }
}
