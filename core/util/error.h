// Typed errors of the engine. Exceptions stay inside a process; the worker and the ranks turn them into
// protocol errors (error kind + message) at their top level.
#pragma once
#include <stdexcept>
#include <string>

namespace ditstudio {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A file on disk is malformed: the message names the file and what was expected.
class FormatError : public Error {
public:
    using Error::Error;
};

// Weights do not fit the model: missing, unexpected or mis-shaped tensors.
class ModelError : public Error {
public:
    using Error::Error;
};

// A setting or argument is out of range: the message names the setting and the allowed values.
class ConfigError : public Error {
public:
    using Error::Error;
};

// Writing an output (video, image sequence, sidecar) failed; no partial file is left behind.
class ExportError : public Error {
public:
    using Error::Error;
};

} // namespace ditstudio
