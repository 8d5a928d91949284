# imagenet_byol as 2 data-parallel ranks (scripts/launch.sh, Gloo over loopback) on synthetic
# images: 8 images per rank and 2 accumulation steps (no_sync on the first), global batch 32, batch
# norm synchronized over both ranks, two steps, then one more resumed from rank 0's checkpoint.
#   cmake -DLAUNCH=<scripts/launch.sh> -DBYOL=<imagenet_byol> -DWORK=<scratch dir> -P check_imagenet_two_ranks.cmake
file(REMOVE_RECURSE ${WORK})
set(tiny --synthetic --synthetic-images 64 --arch resnet18 --image-size 32 --batch-size 8 --accum-steps 2 --epochs 2
         --threads 1 --workers 1 --log-every 1 --device cpu --out ${WORK})
function(run expect)
  execute_process(COMMAND ${LAUNCH} -n 2 -- ${BYOL} ${tiny} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "2 ranks of imagenet_byol ${ARGN} failed (${rc}):\n${out}\n${err}")
  endif()
  foreach(line IN LISTS expect)
    string(FIND "${out}" "${line}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "no '${line}' in:\n${out}")
    endif()
  endforeach()
  # Rank 0 alone prints.
  if(out MATCHES "\\[rank 1\\]")
    message(FATAL_ERROR "rank 1 printed:\n${out}")
  endif()
endfunction()
# ResNet-18's learner: 20 BatchNorms in the encoder and 1 in each MLP head; the target has no
# predictor: 22 + 21.
run("[rank 0] 2 ranks (gloo): 43 BatchNorm layers synchronized;global batch 32 = 8 x 2 processes x 2 accumulation steps;[rank 0] step 2/4;checkpoint ${WORK}/checkpoint.pt (step 2)"
    --steps 2)
run("resumed from ${WORK}/checkpoint.pt at step 2;[rank 0] step 3/4;checkpoint ${WORK}/checkpoint.pt (step 3)"
    --steps 1 --resume)
