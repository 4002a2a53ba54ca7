//! Gateway socket threads (mio).
