#include "veil/base.h"
int
main (void)
{
  return 0;
}
