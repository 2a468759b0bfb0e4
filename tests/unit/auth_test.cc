// The bearer-token check of muke-server's mutating RPCs: the token file's format and what call metadata passes.
#include <fstream>
#include <map>
#include <string>

#include <grpcpp/support/string_ref.h>
#include <gtest/gtest.h>

#include "server/auth.h"
#include "tests/test_util.h"

namespace muke::server {
namespace {

using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

absl::Status CheckHeader(const BearerTokenChecker& checker, const std::string& value) {
  return checker.Check(Metadata{{"authorization", value}});
}

TEST(BearerTokenCheckerTest, AcceptsOnlyTheBearerToken) {
  const BearerTokenChecker checker("s3cret-token");
  EXPECT_TRUE(CheckHeader(checker, "Bearer s3cret-token").ok());
  EXPECT_TRUE(CheckHeader(checker, "bearer s3cret-token").ok());  // the scheme is case-insensitive

  for (const std::string value : {"Bearer s3cret-toke", "Bearer s3cret-token2", "Bearer S3CRET-TOKEN", "Bearer ",
                                  "Bearer  s3cret-token", "s3cret-token", "Basic czNjcmV0LXRva2Vu", ""}) {
    const absl::Status status = CheckHeader(checker, value);
    EXPECT_TRUE(absl::IsUnauthenticated(status)) << "'" << value << "': " << status;
    EXPECT_NE(status.message().find("authorization: Bearer <token>"), std::string::npos) << status;
    EXPECT_EQ(status.message().find("s3cret"), std::string::npos) << status;
  }
}

TEST(BearerTokenCheckerTest, MissingHeaderSaysWhichIsExpected) {
  const BearerTokenChecker checker("t");
  const absl::Status status = checker.Check(Metadata{{"x-other", "Bearer t"}});
  EXPECT_TRUE(absl::IsUnauthenticated(status));
  EXPECT_EQ(status.message(), "missing token: expected call metadata `authorization: Bearer <token>`");
}

TEST(BearerTokenCheckerTest, TokenFileLosesTrailingWhitespaceAndMustNotBeEmpty) {
  const std::string dir = ::muke::testing::MakeTempDir("auth");
  std::ofstream(dir + "/token") << "abc def\n\n";
  absl::StatusOr<BearerTokenChecker> checker = BearerTokenChecker::FromFile(dir + "/token");
  ASSERT_TRUE(checker.ok()) << checker.status();
  EXPECT_TRUE(CheckHeader(*checker, "Bearer abc def").ok());
  EXPECT_FALSE(CheckHeader(*checker, "Bearer abc def\n").ok());

  std::ofstream(dir + "/empty") << " \n";
  checker = BearerTokenChecker::FromFile(dir + "/empty");
  ASSERT_FALSE(checker.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(checker.status()));
  EXPECT_NE(checker.status().message().find(dir + "/empty"), std::string::npos) << checker.status();

  checker = BearerTokenChecker::FromFile(dir + "/missing");
  ASSERT_FALSE(checker.ok());
  EXPECT_NE(checker.status().message().find(dir + "/missing"), std::string::npos) << checker.status();
}

}  // namespace
}  // namespace muke::server
