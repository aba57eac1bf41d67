// TLS and mTLS against the real eaos-server, with certificates made by openssl at test time
// (make_test_certs.sh): plaintext vs TLS, a client without a trusted CA, mTLS with the right,
// a missing and a foreign client certificate, and flag mistakes that must stop the server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/cpp/eaos_client.h"
#include "tests/integration/server_process.h"

namespace eaos::testing {
namespace {

using ::testing::HasSubstr;

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     absl::StrCat("eaos_tls_", getpid()));
    const std::string cmd = absl::StrCat(EAOS_SOURCE_DIR, "/tests/integration/make_test_certs.sh ",
                                         dir_->string());
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string File(const char* name) { return (*dir_ / name).string(); }

  static std::vector<std::string> TlsFlags(bool mutual) {
    std::vector<std::string> flags = {"--tls_cert=" + File("server.pem"),
                                      "--tls_key=" + File("server.key")};
    if (mutual) flags.push_back("--tls_client_ca=" + File("ca.pem"));
    return flags;
  }

  // GetModelInfo through the C++ client with the given TLS settings.
  static absl::Status Call(const std::string& target, const client::TlsOptions& tls) {
    client::ClientOptions options;
    options.target = target;
    options.timeout = absl::Seconds(10);
    options.tls = tls;
    auto c = client::Client::Create(options);
    if (!c.ok()) return c.status();
    return (*c)->GetModelInfo().status();
  }

  static client::TlsOptions Trusting(const char* cert = "", const char* key = "") {
    client::TlsOptions tls;
    tls.ca_file = File("ca.pem");
    if (*cert) tls.cert_file = File(cert);
    if (*key) tls.key_file = File(key);
    return tls;
  }

  static std::filesystem::path* dir_;
};
std::filesystem::path* Tls::dir_ = nullptr;

TEST_F(Tls, PlaintextServerServesPlaintextClients) {
  auto server = ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_THAT((*server)->log(), HasSubstr("(plaintext)"));
  EXPECT_TRUE(Call((*server)->target(), {}).ok());
  // A TLS client cannot talk to a plaintext server.
  EXPECT_FALSE(Call((*server)->target(), Trusting()).ok());
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST_F(Tls, TlsServerNeedsATlsClientThatTrustsItsCa) {
  auto server = ServerProcess::Start(TlsFlags(/*mutual=*/false));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_THAT((*server)->log(), HasSubstr("(TLS)"));
  const std::string target = (*server)->target();

  EXPECT_TRUE(Call(target, Trusting()).ok());
  // The certificate names localhost as well as 127.0.0.1.
  client::TlsOptions by_name = Trusting();
  by_name.server_name = "localhost";
  EXPECT_TRUE(Call(target, by_name).ok());

  const absl::Status plaintext = Call(target, {});
  EXPECT_EQ(plaintext.code(), absl::StatusCode::kUnavailable) << plaintext;
  client::TlsOptions system_roots;
  system_roots.enabled = true;  // our test CA is not among the system's roots
  EXPECT_EQ(Call(target, system_roots).code(), absl::StatusCode::kUnavailable);
  client::TlsOptions wrong_name = Trusting();
  wrong_name.server_name = "eaos.example.com";
  EXPECT_EQ(Call(target, wrong_name).code(), absl::StatusCode::kUnavailable);

  // Annotating works over TLS, not just GetModelInfo.
  client::ClientOptions options;
  options.target = target;
  options.tls = Trusting();
  auto c = client::Client::Create(options);
  ASSERT_TRUE(c.ok());
  v1::Item item;
  item.set_id("tls");
  item.set_text("Chương trình rất hay");
  auto results = (*c)->Predict({item});
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_GE((*results)[0].tuples_size(), 1);
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST_F(Tls, MutualTlsAcceptsOnlyClientsWithACertificateFromItsCa) {
  auto server = ServerProcess::Start(TlsFlags(/*mutual=*/true));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_THAT((*server)->log(), HasSubstr("(mTLS)"));
  const std::string target = (*server)->target();

  EXPECT_TRUE(Call(target, Trusting("client.pem", "client.key")).ok());
  EXPECT_EQ(Call(target, Trusting()).code(), absl::StatusCode::kUnavailable);  // no certificate
  EXPECT_EQ(Call(target, Trusting("rogue.pem", "rogue.key")).code(),
            absl::StatusCode::kUnavailable);  // signed by a CA the server does not trust
  EXPECT_EQ(Call(target, {}).code(), absl::StatusCode::kUnavailable);  // plaintext
  // The server keeps serving good clients after refusing bad ones.
  EXPECT_TRUE(Call(target, Trusting("client.pem", "client.key")).ok());
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST_F(Tls, ClientRefusesHalfACertificatePair) {
  const absl::Status s = Call("127.0.0.1:1", Trusting("client.pem", ""));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("cert_file and key_file"));
}

TEST_F(Tls, FlagMistakesStopTheServerWithTheReason) {
  struct Case {
    std::vector<std::string> flags;
    std::string reason;
  };
  const std::string missing = File("absent.pem");
  for (const Case& c : {
           Case{{"--tls_cert=" + File("server.pem")}, "needs both --tls_cert and --tls_key"},
           Case{{"--tls_cert=" + missing, "--tls_key=" + File("server.key")},
                "--tls_cert: cannot read PEM file " + missing},
           Case{{"--tls_cert=" + File("server.pem"), "--tls_key=" + File("ca.srl")},
                "holds no PEM block"},
       }) {
    auto server = ServerProcess::Start(c.flags, absl::Seconds(20));
    ASSERT_FALSE(server.ok()) << c.reason;
    EXPECT_THAT(std::string(server.status().message()), HasSubstr(c.reason));
  }
}

}  // namespace
}  // namespace eaos::testing
