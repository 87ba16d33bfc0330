//! Message type names: the `$type` discriminator.

/// A message with a registered wire type name, e.g. `Dispatcher.Messages.InfoRequest`.
pub trait MessageType {
    const TYPE_NAME: &'static str;
}

/// Split a `$type` value into the type name and ignore the assembly qualifier:
/// the split is at the first comma outside square brackets, both parts trimmed.
pub fn split_type_name(raw: &str) -> &str {
    let mut depth = 0i32;
    for (i, c) in raw.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => return raw[..i].trim(),
            _ => {}
        }
    }
    raw.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembly_qualifier_is_dropped() {
        assert_eq!(
            split_type_name("Dispatcher.Messages.InfoRequest, DispatcherModule"),
            "Dispatcher.Messages.InfoRequest"
        );
        assert_eq!(split_type_name(" A[B,C], D "), "A[B,C]");
        assert_eq!(split_type_name("X"), "X");
    }
}
