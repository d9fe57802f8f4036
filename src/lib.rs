pub use model_core::*;
