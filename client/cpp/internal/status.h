// The one mapping from grpc::Status to absl::Status used by the client.
//
// Thread-safety: pure function.
//
//   grpc::Status status = stub->Predict(&context, request, &response);
//   if (!status.ok()) return internal::ToAbslStatus(status);
#ifndef EAOS_CLIENT_CPP_INTERNAL_STATUS_H_
#define EAOS_CLIENT_CPP_INTERNAL_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace eaos::client::internal {

// Keeps the code (gRPC and absl share the google.rpc.Code numbering) and the message.
inline absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace eaos::client::internal

#endif  // EAOS_CLIENT_CPP_INTERNAL_STATUS_H_
