//! [`Quiet`]: keeps ALSA from printing its own error lines on stderr while
//! the speaker opens the output device. Without a sound card, alsa-lib
//! prints eight lines of configuration trouble before it fails; the
//! player's error already says what failed, so those lines are dropped.

use std::ffi::{c_char, c_int};

/// While alive, ALSA's messages on this thread go nowhere; dropping it
/// puts the previous handler back.
pub(super) struct Quiet {
    previous: alsa_sys::snd_local_error_handler_t,
}

impl Quiet {
    /// Silences ALSA's messages on the calling thread.
    pub(super) fn new() -> Self {
        // SAFETY: `snd_lib_error_set_local` only stores the pointer in a
        // thread-local slot; `ignore` has the handler's exact signature and
        // touches none of its arguments, so any call alsa-lib makes is sound.
        let previous = unsafe { alsa_sys::snd_lib_error_set_local(Some(ignore)) };
        Self { previous }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        // SAFETY: puts back the handler that was set on this thread before
        // (or none); alsa-lib keeps it in the same thread-local slot.
        unsafe {
            alsa_sys::snd_lib_error_set_local(self.previous);
        }
    }
}

/// A local error handler that drops the message.
unsafe extern "C" fn ignore(
    _file: *const c_char,
    _line: c_int,
    _function: *const c_char,
    _error: c_int,
    _format: *const c_char,
    _arguments: *mut alsa_sys::__va_list_tag,
) {
}
