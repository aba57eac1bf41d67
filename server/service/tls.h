// Server transport credentials from PEM files: plaintext, TLS, or mutual TLS.
//
//   TlsFiles files{.cert = "server.pem", .key = "server.key", .client_ca = "ca.pem"};
//   absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = ServerCredentialsFrom(files);
//
// No files: insecure (plaintext) credentials. cert + key: TLS. client_ca as well: every client
// must present a certificate signed by that CA (mTLS); others fail the handshake.
#ifndef EAOS_SERVER_SERVICE_TLS_H_
#define EAOS_SERVER_SERVICE_TLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"

namespace eaos::service {

struct TlsFiles {
  std::string cert;       // PEM certificate chain of the server
  std::string key;        // PEM private key of the server
  std::string client_ca;  // PEM CA bundle that client certificates must chain to (mTLS)

  bool enabled() const { return !cert.empty() || !key.empty() || !client_ca.empty(); }
  // "plaintext", "TLS" or "mTLS", for the startup log.
  std::string mode() const;
};

// Reads the files; INVALID_ARGUMENT names a missing pair member or an unreadable/empty file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFrom(
    const TlsFiles& files);

}  // namespace eaos::service

#endif  // EAOS_SERVER_SERVICE_TLS_H_
