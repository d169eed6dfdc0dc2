//! rll-migrate's prototxt side: arbitrary text against a net schema around our proto (tools/rll-migrate/schema).
//! The contract: an error with a message, or a migrated text that migrating again leaves alone (no original layer
//! is left, and the text is unchanged); never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rll_migrate::MessageDescriptor;
use std::sync::OnceLock;

fn schema() -> MessageDescriptor {
    static DESC: OnceLock<MessageDescriptor> = OnceLock::new();
    DESC.get_or_init(|| rll_migrate::small_net_descriptor().expect("the small schema compiles"))
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for paper in [false, true] {
        match rll_migrate::migrate_text(schema(), text, paper) {
            Ok((out, _changed)) => {
                let (again, changed) = rll_migrate::migrate_text(schema(), &out, paper)
                    .unwrap_or_else(|e| panic!("the migrated text does not migrate again: {e}\n{out}"));
                assert!(changed.is_empty(), "layers left to migrate: {changed:?}");
                assert_eq!(again, out, "migrating the migrated text changed it");
            }
            Err(e) => assert!(!e.is_empty(), "an error without a message"),
        }
    }
});
