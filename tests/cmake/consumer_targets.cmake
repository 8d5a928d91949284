# What every consumer project builds once byol is available to it: consumer.cpp against
# byol::byol and, when the byol build made byol::data (BYOL_EXPECT_DATA), consumer_data.cpp
# against it. Each consumer's CMakeLists.txt includes this file after making byol available.
add_executable(consumer ${CMAKE_CURRENT_LIST_DIR}/consumer.cpp)
target_link_libraries(consumer PRIVATE byol::byol)
if(BYOL_EXPECT_DATA)
  if(NOT TARGET byol::data)
    message(FATAL_ERROR "byol built byol::data, but this consumer does not see it")
  endif()
  add_executable(consumer_data ${CMAKE_CURRENT_LIST_DIR}/consumer_data.cpp)
  target_link_libraries(consumer_data PRIVATE byol::data)
endif()
