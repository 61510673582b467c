# Endpoints, EndpointSlice, ServiceAccount, root CA publisher and garbage collector (the "net"
# family). The EndpointSlice controller shares endpointutil helpers with endpoints.cc.
foreach(t endpoints service_account root_ca_publisher garbage_collector)
  if(EXISTS ${CTRL_SRC}/${t}.cc AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}_test.cc)
    minik_add_unit_test(controllers_${t}_test
      SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${t}_test.cc ${CTRL_SRC}/${t}.cc
      DEPS minik_controller_framework)
  endif()
endforeach()
if(EXISTS ${CTRL_SRC}/endpoint_slice.cc AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/endpoint_slice_test.cc)
  minik_add_unit_test(controllers_endpoint_slice_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/endpoint_slice_test.cc ${CTRL_SRC}/endpoint_slice.cc ${CTRL_SRC}/endpoints.cc
    DEPS minik_controller_framework)
endif()
