// Errors as values across module boundaries.
//
// Every fallible call between modules returns Result<T> = std::expected<T, Error>. An Error
// carries a canonical code, which is all a caller may branch on, and a human message, which
// is shown to the operator unchanged (it is the "message" of the API's JSON error body).
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace warden {

enum class ErrorCode {
  kInvalidArgument,     // the caller's input is wrong; retrying the same input cannot help
  kNotFound,            // the named thing does not exist
  kAlreadyExists,       // a create collided with an existing thing (duplicate)
  kFailedPrecondition,  // the system is not in a state that allows the operation
  kUnauthenticated,     // no or bad credentials
  kPermissionDenied,    // credentials fine, operation not allowed for them
  kUnavailable,         // transient: a dependency is down; retry may help
  kDeadlineExceeded,    // transient: the operation took too long
  kAborted,             // transient: a concurrent change got in the way
  kResourceExhausted,   // a limit was hit (body size, connections)
  kUnimplemented,       // the other side does not offer the operation (e.g. an old API version)
  kInternal,            // a bug or an unexpected failure of a dependency
};

std::string_view ErrorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "not_found: No host with id x." — for logs, never for API bodies.
  std::string ToString() const;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;

// The one place that decides which failures are worth retrying.
bool IsRetryable(const Error& error);

inline std::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}
inline std::unexpected<Error> InvalidArgument(std::string m) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(m));
}
inline std::unexpected<Error> NotFound(std::string m) {
  return MakeError(ErrorCode::kNotFound, std::move(m));
}
inline std::unexpected<Error> AlreadyExists(std::string m) {
  return MakeError(ErrorCode::kAlreadyExists, std::move(m));
}
inline std::unexpected<Error> FailedPrecondition(std::string m) {
  return MakeError(ErrorCode::kFailedPrecondition, std::move(m));
}
inline std::unexpected<Error> Internal(std::string m) {
  return MakeError(ErrorCode::kInternal, std::move(m));
}
inline std::unexpected<Error> Unavailable(std::string m) {
  return MakeError(ErrorCode::kUnavailable, std::move(m));
}

}  // namespace warden
