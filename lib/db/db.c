/* placeholder */
#include "veil/db.h"
