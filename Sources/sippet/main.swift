print("sippet")
