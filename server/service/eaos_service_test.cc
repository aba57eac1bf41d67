// EaosServiceImpl in process, before a model is attached (the loading phase).
#include "server/service/eaos_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"

namespace eaos::service {
namespace {

class LoadingServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    metrics_ = std::make_unique<observability::Metrics>(registry_);
    service_ = std::make_unique<EaosServiceImpl>(metrics_.get(), ServiceOptions());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    stub_ = v1::EaosService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<observability::Metrics> metrics_;
  std::unique_ptr<EaosServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::EaosService::Stub> stub_;
};

TEST_F(LoadingServiceTest, CallsAnswerUnavailableUntilTheModelIsAttached) {
  grpc::ClientContext context;
  v1::PredictResponse response;
  const grpc::Status status = stub_->Predict(&context, v1::PredictRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("loading"));

  grpc::ClientContext info_context;
  v1::ModelInfo info;
  EXPECT_EQ(stub_->GetModelInfo(&info_context, {}, &info).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// Regression: a stream finished as UNAVAILABLE at its start must not be finished again when the
// client cancels or its deadline expires at the same moment (gRPC aborts on a second Finish).
TEST_F(LoadingServiceTest, StreamsCancelledWhileLoadingAreFinishedOnce) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        grpc::ClientContext context;
        if ((i + t) % 2 == 0) {
          context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::microseconds(100 * (i % 30)));
        }
        auto stream = stub_->PredictStream(&context);
        if ((i + t) % 2 == 1) context.TryCancel();
        v1::PredictStreamResponse response;
        while (stream->Read(&response)) {
        }
        const grpc::Status status = stream->Finish();
        EXPECT_FALSE(status.ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  grpc::ClientContext context;
  auto stream = stub_->PredictStream(&context);
  v1::PredictStreamResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace eaos::service
