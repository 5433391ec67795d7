;; pause: the pod's infra container, like Kubernetes' pause image: it does nothing but exist, so the
;; pod's sandbox (its network and volumes) lives exactly as long as it runs. A WASI preview 1 core
;; module, a few hundred bytes: it sleeps a day at a time in poll_oneoff, forever.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; One subscription at offset 0: userdata 0, tag 0 (clock), clock id 1 (monotonic) at 16,
  ;; relative timeout at 24 (one day in ns), precision 0, flags 0. Events land at 64, count at 128.
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 86400000000000))
    (loop $forever
      (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
      (br $forever))))
