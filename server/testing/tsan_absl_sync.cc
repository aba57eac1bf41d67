// ThreadSanitizer builds only: teaches TSan what absl::Mutex, absl::CondVar and absl::Notification
// do, although the abseil library is Debian's, built without TSan.
//
// TSan sees happens-before only through instrumented code and the calls it intercepts (pthread,
// futex-free libc). absl::Mutex synchronizes with atomics and futexes inside an uninstrumented
// library, so every access guarded by one would look like a race. This file defines the public
// entry points of those classes in the executable — the dynamic linker then binds every caller to
// them, gRPC's own locks included — and each one calls the library's real function (dlsym
// RTLD_NEXT) between TSan's mutex annotations (sanitizer/tsan_interface.h).
//
// Between a pre_* and post_* annotation TSan ignores memory accesses; that is where the real call
// runs, so conditions that abseil evaluates inside Lock/Unlock/Await (on any thread) are not
// reported. Operations that may release and re-take the mutex (Await, CondVar::Wait) are told as an
// unlock followed by a lock.
//
// Linked into every executable of a build with EAOS_SANITIZER=thread (CMakeLists.txt).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

#define EAOS_STRINGIFY_INNER(x) #x
#define EAOS_STRINGIFY(x) EAOS_STRINGIFY_INNER(x)

// Itanium mangling of the member absl::<inline namespace>::<cls>::<rest>, e.g. ("Mutex",
// "4LockEv"); const members start "_ZNK".
std::string Mangled(bool is_const, const char* cls, const char* rest) {
  const std::string ns = EAOS_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string c = cls;
  return std::string(is_const ? "_ZNK" : "_ZN") + "4absl" + std::to_string(ns.size()) + ns +
         std::to_string(c.size()) + c + rest;
}

template <typename Fn>
Fn Real(bool is_const, const char* cls, const char* rest) {
  const std::string name = Mangled(is_const, cls, rest);
  void* symbol = dlsym(RTLD_NEXT, name.c_str());
  if (symbol == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: cannot find %s in abseil\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(symbol);
}

// Calls from inside an annotated call (AwaitWithTimeout calls AwaitWithDeadline, Notification
// calls Mutex) go straight to the library: the outer call's annotations describe them.
thread_local int annotated_depth = 0;
struct Outermost {
  Outermost() : outermost(annotated_depth++ == 0) {}
  ~Outermost() { --annotated_depth; }
  const bool outermost;
};

// `real`: the library's member function `rest` of class `cls`, looked up once; an inner call
// returns real(args...) at once.
#define EAOS_REAL_IMPL(is_const, Fn, cls, rest, ...)          \
  static const Fn real = Real<Fn>(is_const, cls, rest);       \
  const Outermost scope;                                      \
  if (!scope.outermost) return real(__VA_ARGS__)
#define EAOS_REAL(Fn, cls, rest, ...) EAOS_REAL_IMPL(false, Fn, cls, rest, __VA_ARGS__)
#define EAOS_REAL_CONST(Fn, cls, rest, ...) EAOS_REAL_IMPL(true, Fn, cls, rest, __VA_ARGS__)

constexpr unsigned kRead = __tsan_mutex_read_lock;
constexpr unsigned kTry = __tsan_mutex_try_lock;
constexpr unsigned kTryFailed = __tsan_mutex_try_lock_failed;

// An operation that may release `mu` and take it again before returning.
template <typename Call>
auto AsUnlockThenLock(void* mu, unsigned flags, Call call) {
  __tsan_mutex_pre_unlock(mu, flags);
  __tsan_mutex_post_unlock(mu, flags);
  __tsan_mutex_pre_lock(mu, flags);
  auto result = call();
  __tsan_mutex_post_lock(mu, flags, 0);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

using MutexFn = void (*)(Mutex*);
using MutexBoolFn = bool (*)(Mutex*);
using MutexCondFn = void (*)(Mutex*, const Condition&);
using MutexCondTimeoutFn = bool (*)(Mutex*, const Condition&, Duration);
using MutexCondDeadlineFn = bool (*)(Mutex*, const Condition&, Time);

void Mutex::Lock() {
  EAOS_REAL(MutexFn, "Mutex", "4LockEv", this);
  __tsan_mutex_pre_lock(this, 0);
  real(this);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::Unlock() {
  EAOS_REAL(MutexFn, "Mutex", "6UnlockEv", this);
  __tsan_mutex_pre_unlock(this, 0);
  real(this);
  __tsan_mutex_post_unlock(this, 0);
}

void Mutex::ReaderLock() {
  EAOS_REAL(MutexFn, "Mutex", "10ReaderLockEv", this);
  __tsan_mutex_pre_lock(this, kRead);
  real(this);
  __tsan_mutex_post_lock(this, kRead, 0);
}

void Mutex::ReaderUnlock() {
  EAOS_REAL(MutexFn, "Mutex", "12ReaderUnlockEv", this);
  __tsan_mutex_pre_unlock(this, kRead);
  real(this);
  __tsan_mutex_post_unlock(this, kRead);
}

bool Mutex::TryLock() {
  EAOS_REAL(MutexBoolFn, "Mutex", "7TryLockEv", this);
  __tsan_mutex_pre_lock(this, kTry);
  const bool locked = real(this);
  __tsan_mutex_post_lock(this, locked ? kTry : kTry | kTryFailed, 0);
  return locked;
}

bool Mutex::ReaderTryLock() {
  EAOS_REAL(MutexBoolFn, "Mutex", "13ReaderTryLockEv", this);
  __tsan_mutex_pre_lock(this, kRead | kTry);
  const bool locked = real(this);
  __tsan_mutex_post_lock(this, locked ? kRead | kTry : kRead | kTry | kTryFailed, 0);
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  EAOS_REAL(MutexCondFn, "Mutex", "8LockWhenERKNS0_9ConditionE", this, cond);
  __tsan_mutex_pre_lock(this, 0);
  real(this, cond);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  EAOS_REAL(MutexCondFn, "Mutex", "14ReaderLockWhenERKNS0_9ConditionE", this, cond);
  __tsan_mutex_pre_lock(this, kRead);
  real(this, cond);
  __tsan_mutex_post_lock(this, kRead, 0);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  EAOS_REAL(MutexCondTimeoutFn, "Mutex",
            "19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", this, cond, timeout);
  __tsan_mutex_pre_lock(this, 0);
  const bool met = real(this, cond, timeout);
  __tsan_mutex_post_lock(this, 0, 0);
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  EAOS_REAL(MutexCondDeadlineFn, "Mutex",
            "20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", this, cond, deadline);
  __tsan_mutex_pre_lock(this, 0);
  const bool met = real(this, cond, deadline);
  __tsan_mutex_post_lock(this, 0, 0);
  return met;
}

void Mutex::Await(const Condition& cond) {
  EAOS_REAL(MutexCondFn, "Mutex", "5AwaitERKNS0_9ConditionE", this, cond);
  AsUnlockThenLock(this, 0, [&] {
    real(this, cond);
    return 0;
  });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  EAOS_REAL(MutexCondTimeoutFn, "Mutex",
            "16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE", this, cond, timeout);
  return AsUnlockThenLock(this, 0, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  EAOS_REAL(MutexCondDeadlineFn, "Mutex",
            "17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE", this, cond, deadline);
  return AsUnlockThenLock(this, 0, [&] { return real(this, cond, deadline); });
}

using CondVarWaitFn = void (*)(CondVar*, Mutex*);
using CondVarTimeoutFn = bool (*)(CondVar*, Mutex*, Duration);
using CondVarDeadlineFn = bool (*)(CondVar*, Mutex*, Time);

void CondVar::Wait(Mutex* mu) {
  EAOS_REAL(CondVarWaitFn, "CondVar", "4WaitEPNS0_5MutexE", this, mu);
  AsUnlockThenLock(mu, 0, [&] {
    real(this, mu);
    return 0;
  });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  EAOS_REAL(CondVarTimeoutFn, "CondVar",
            "15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE", this, mu, timeout);
  return AsUnlockThenLock(mu, 0, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  EAOS_REAL(CondVarDeadlineFn, "CondVar",
            "16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE", this, mu, deadline);
  return AsUnlockThenLock(mu, 0, [&] { return real(this, mu, deadline); });
}

// Notification publishes with an atomic store inside the library: a release on the object before
// Notify, an acquire after a wait that saw it. HasBeenNotified() is inline and stays unannotated:
// code checked under TSan uses WaitForNotificationWithTimeout(ZeroDuration()) instead.
using NotifyFn = void (*)(Notification*);
using NotifiedWaitFn = void (*)(const Notification*);
using NotifiedTimeoutFn = bool (*)(const Notification*, Duration);
using NotifiedDeadlineFn = bool (*)(const Notification*, Time);

void Notification::Notify() {
  EAOS_REAL(NotifyFn, "Notification", "6NotifyEv", this);
  __tsan_release(this);
  real(this);
}

void Notification::WaitForNotification() const {
  EAOS_REAL_CONST(NotifiedWaitFn, "Notification", "19WaitForNotificationEv", this);
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  EAOS_REAL_CONST(NotifiedTimeoutFn, "Notification",
            "30WaitForNotificationWithTimeoutENS0_8DurationE", this, timeout);
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  EAOS_REAL_CONST(NotifiedDeadlineFn, "Notification",
            "31WaitForNotificationWithDeadlineENS0_4TimeE", this, deadline);
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
