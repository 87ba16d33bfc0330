//! REST request bodies: the XML reader under the service's default caps.
#![no_main]

use dispatcher_rest::config::RestLimits;
use dispatcher_rest::xml::{escape, parse_fragment, XmlLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rest = RestLimits::default();
    let limits = XmlLimits {
        max_depth: rest.max_xml_depth,
        max_nodes: rest.max_xml_nodes,
        max_attributes_per_element: rest.max_xml_attributes_per_element,
    };
    if let Ok(elements) = parse_fragment(data, limits) {
        // Whatever was read can be written back and read again unchanged.
        for e in elements.iter().take(4) {
            let mut text = format!("<{}", e.name);
            for (k, v) in &e.attrs {
                text.push_str(&format!(" {k}=\"{}\"", escape(v)));
            }
            text.push_str(&format!(">{}</{}>", escape(&e.text), e.name));
            if let Ok(back) = parse_fragment(text.as_bytes(), limits) {
                assert_eq!(back[0].attrs, e.attrs);
                assert_eq!(back[0].text, e.text);
            }
        }
    }
});
