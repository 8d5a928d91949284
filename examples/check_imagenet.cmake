# imagenet_byol and linear_eval at toy scale on the CPU:
#   cmake -DBYOL=<imagenet_byol> -DLINEAR=<linear_eval> -DWORK=<scratch dir> -P check_imagenet.cmake
file(REMOVE_RECURSE ${WORK})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${out}")
  if(rc)
    message(FATAL_ERROR "${ARGN} failed (${rc}):\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
set(tiny --arch resnet18 --image-size 32 --batch-size 8 --accum-steps 2 --epochs 1 --threads 2 --workers 2
         --log-every 1 --device cpu)
# Synthetic images: two steps, then a resumed third; the export is written. --preset 300 gives the
# reference's base lr 0.3: a peak of 0.3 x 16 / 256 at the global batch of 16.
run(${BYOL} --synthetic --synthetic-images 64 ${tiny} --preset 300 --steps 2 --out ${WORK}/synthetic)
if(NOT last_output MATCHES "LARS peak lr 0.01875,")
  message(FATAL_ERROR "--preset 300 did not set the base learning rate 0.3")
endif()
run(${BYOL} --synthetic --synthetic-images 64 ${tiny} --preset 300 --steps 1 --out ${WORK}/synthetic --resume)
if(NOT last_output MATCHES "resumed from .* at step 2" OR NOT last_output MATCHES "step 3/")
  message(FATAL_ERROR "the resumed run did not continue at step 3")
endif()
if(NOT EXISTS ${WORK}/synthetic/encoder.pt)
  message(FATAL_ERROR "no encoder.pt was exported")
endif()
run(${LINEAR} --synthetic --arch resnet18 --image-size 32 --batch-size 32 --epochs 1 --threads 2
    --encoder ${WORK}/synthetic/encoder.pt --device cpu)
if(NOT last_output MATCHES "val top-1")
  message(FATAL_ERROR "linear_eval printed no accuracy")
endif()
# An image folder of JPEGs, when Python's PIL can write one.
execute_process(COMMAND /usr/bin/python3 -c "
import os, random, sys
from PIL import Image
random.seed(0)
for split, n in (('train', 12), ('val', 4)):
    for c in ('a', 'b'):
        os.makedirs(os.path.join(sys.argv[1], split, c), exist_ok=True)
        for i in range(n):
            size = (random.randint(40, 70), random.randint(40, 70))
            colour = (200, 40, 40) if c == 'a' else (40, 40, 200)
            Image.new('RGB', size, colour).save(os.path.join(sys.argv[1], split, c, f'{i}.jpg'))
" ${WORK}/folder RESULT_VARIABLE rc)
if(rc)
  message(STATUS "python3 with PIL is missing: the image-folder path was not run")
  return()
endif()
run(${BYOL} --data ${WORK}/folder/train ${tiny} --steps 2 --out ${WORK}/folder_run)
run(${LINEAR} --train ${WORK}/folder/train --val ${WORK}/folder/val --arch resnet18 --image-size 32 --resize 36
    --batch-size 8 --epochs 2 --threads 2 --encoder ${WORK}/folder_run/encoder.pt --device cpu)
if(NOT last_output MATCHES "epoch 2/2 .*val top-1")
  message(FATAL_ERROR "linear_eval on the folder printed no accuracy")
endif()
