//! What every message type shares: its MessageFormat sample. The typed
//! messages themselves live in the `dispatcher-messages` crate.

use serde::Serialize;

use crate::envelope::Envelope;
use crate::typename::MessageType;
use crate::value::Value;

/// The JSON text of a default-constructed request, as MessageFormatResponse
/// returns it: `$type`, the type's members, then the envelope defaults.
pub fn sample_json<T: MessageType + Serialize + Default>() -> String {
    let mut members = vec![("$type".to_owned(), Value::String(T::TYPE_NAME.to_owned()))];
    if let Ok(Value::Object(fields)) = crate::to_value(&T::default()) {
        members.extend(fields);
    }
    if let Ok(Value::Object(envelope)) = crate::to_value(&Envelope::default()) {
        members.extend(envelope);
    }
    crate::json::to_string(&Value::Object(members))
}
