#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| winkube_fuzz_targets::gmsa_policy(data));
