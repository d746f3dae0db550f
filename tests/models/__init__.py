# Entries of each parameter tensor a whole model's gradcheck differences (its first, last and 30 drawn): every op's
# own gradcheck (tests/autograd) differences every entry; a whole GPT has ~2,000, two forwards each.
ENTRIES = 32
