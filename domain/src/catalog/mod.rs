//! The application catalog: Boutiques descriptors (schema 0.5), the parameters a job gives
//! them, and the command lines built from both.

mod application;
mod command_line;
mod descriptor;
mod image;
mod parameters;
mod shell_lexer;

pub use application::{Application, ApplicationCommand, ApplicationError, ApplicationEvent};
pub use command_line::{CommandLine, shell_quote};
pub use descriptor::{
    Descriptor, DescriptorError, EnvironmentVariable, Group, Input, InputType, Output,
};
pub use image::{ContainerImage, ImageRef};
pub use parameters::{ParameterError, Parameters};
