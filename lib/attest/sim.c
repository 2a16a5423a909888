/* placeholder */
#include "veil/attest.h"
