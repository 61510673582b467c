# Job, CronJob and TTL-after-finished controllers (the batch family).
minik_add_unit_test(controllers_cron_schedule_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/cron_schedule_test.cc ${CTRL_SRC}/cron_schedule.cc
  DEPS minik_controller_framework)
minik_add_unit_test(controllers_cron_job_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/cron_job_test.cc ${CTRL_SRC}/cron_job.cc ${CTRL_SRC}/cron_schedule.cc
  DEPS minik_controller_framework)
minik_add_unit_test(controllers_job_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/job_test.cc ${CTRL_SRC}/job.cc ${CTRL_SRC}/ttl_after_finished.cc
  DEPS minik_controller_framework)
