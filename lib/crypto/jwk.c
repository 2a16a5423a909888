/* placeholder */
#include "veil/crypto.h"
