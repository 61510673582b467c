# The Deployment controller.
minik_add_unit_test(controllers_deployment_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/deployment_test.cc
          ${CTRL_SRC}/deployment.cc ${CTRL_SRC}/deployment_rolling.cc ${CTRL_SRC}/deployment_util.cc
  DEPS minik_controller_framework)
