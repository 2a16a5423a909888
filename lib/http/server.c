/* placeholder */
#include "veil/base.h"
